# The stop (SIGTERM) does not wait for transaction tails (issue 21,
# point 9 (d)): a call proxied WITHOUT record-route, answered and ACKed
# end to end, leaves sipchain only the completed transactions' tails
# (RFC 6026's Accepted states: 64*T1 absorbing 2xx retransmissions and
# forking's further 2xx); no call is up here, so the process exits at
# once, not after stop_timeout.  The same with a non-INVITE (MESSAGE)
# whose Completed state (Timer K / J) has no one waiting on it, and a
# request a module placed (sc_request), answered.  A
# ringing call is still CANCELled and waited for (t/ring.t).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
# the bound: well under a second; under valgrind (SIPCHAIN_WRAPPER) the
# teardown alone is slower, still far from stop_timeout (10 s)
my $bound = $ENV{SIPCHAIN_WRAPPER} ? 3 : 1;
my ($uac, $uacp) = udp_peer();
my ($uas, $uasp) = udp_peer();

for my $case ([ 'INVITE', 'a call proxied without record-route, answered and ACKed' ],
              [ 'MESSAGE', 'a MESSAGE proxied, answered 200' ]) {
    my ($method, $what) = @$case;
    my $port = free_port();
    my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  limits: { stop_timeout: 10 }
modules_path: $mods
chain:
  - module: proxy
    record_route: false
    routes:
      - user_prefix: "bob"
        targets: [ "sip:bob\@127.0.0.1:$uasp" ]
Y
    my $cid = "tail-$method-$$";
    my $req = "$method sip:bob\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$uacp;branch=z9hG4bK-$cid;rport\r\n"
            . "Max-Forwards: 70\r\nFrom: <sip:alice\@x>;tag=a1\r\nTo: <sip:bob\@x>\r\nCall-ID: $cid\r\nCSeq: 1 $method\r\n"
            . "Contact: <sip:alice\@127.0.0.1:$uacp>\r\nContent-Length: 0\r\n\r\n";
    $uac->send($req, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    my $in;
    while (defined(my $m = recv_msg($uas, 3))) { $in = $m, last if $m =~ /^\Q$method\E / }
    ok($in, "$what: reached the callee") or diag(`cat $log`);
    unlike($in // '', qr/^Record-Route:/mi, '... not record-routed');
    my $ok = sip_answer($in // '', '200 OK', 'b1');
    $ok =~ s/\r\n\r\n$/\r\nContact: <sip:bob\@127.0.0.1:$uasp>\r\n\r\n/;
    $uas->send($ok, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    my $resp;
    while (defined(my $m = recv_msg($uac, 3))) { $resp = $m, last if sip_status($m) eq '200' }
    is(sip_status($resp), 200, '... the 200 relayed to the caller');
    if ($method eq 'INVITE') {      # the ACK end to end, not through sipchain
        $uas->send("ACK sip:bob\@127.0.0.1:$uasp SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$uacp;branch=z9hG4bK-ack$cid;rport\r\n"
                 . "Max-Forwards: 70\r\nFrom: <sip:alice\@x>;tag=a1\r\nTo: <sip:bob\@x>;tag=b1\r\nCall-ID: $cid\r\n"
                 . "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($uasp, inet_aton('127.0.0.1')));
    }
    sleep 0.2;
    my $t0 = time;
    my $st = stop_server($pid);        # SIGTERM, then polls every 50 ms
    my $took = time - $t0;
    is($st, 0, '... SIGTERM: exit status 0');
    ok($took < $bound, sprintf('... after %.2f s: no call is up, the transactions\' tails are not waited for (stop_timeout 10 s)', $took));
    my $text = do { local (@ARGV, $/) = $log; <> };
    unlike($text, qr/stop timeout|sanitizer|\[error\]/i, '... nothing waited for, no error');
}
# a request a module placed (sc_request, t_uac), answered: its client
# transaction's Timer K is no reason to wait either
{
    my $port = free_port();
    my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  limits: { stop_timeout: 10 }
modules_path: $mods
chain:
  - module: t_uac
Y
    my $cid = "tail-uac-$$";
    $uac->send("MESSAGE sip:x\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$uacp;branch=z9hG4bK-$cid;rport\r\n"
             . "Max-Forwards: 70\r\nFrom: <sip:alice\@x>;tag=a1\r\nTo: <sip:x\@x>\r\nCall-ID: $cid\r\nCSeq: 1 MESSAGE\r\n"
             . "X-Target: sip:bob\@127.0.0.1:$uasp\r\nX-Method: MESSAGE\r\nContent-Length: 0\r\n\r\n",
               0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    my $in;
    while (defined(my $m = recv_msg($uas, 3))) { $in = $m, last if $m =~ /^MESSAGE / }
    ok($in, 'a MESSAGE a module sent: reached its target');
    $uas->send(sip_answer($in // '', '200 OK', 'b2'), 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    my $resp;
    while (defined(my $m = recv_msg($uac, 3))) { $resp = $m, last if sip_status($m) eq '200' }
    like($resp // '', qr/^SIP\/2\.0 200 got 200 OK/, '... answered, and the module answered its own');
    sleep 0.2;
    my $t0 = time;
    is(stop_server($pid), 0, '... SIGTERM: exit status 0');
    my $took = time - $t0;
    ok($took < $bound, sprintf('... after %.2f s: its Timer K not waited for', $took));
}
done_testing();
