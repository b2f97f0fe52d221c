# Require (RFC 3261 §8.2.2.3): the core refuses with 420 only the option
# tags it does not implement as a UAS.  100rel and timer are admitted, and
# a caller that requires 100rel gets its provisionals reliably even from
# a module that did not ask (RFC 3262 §3); a proxy link passes any
# Require on to the UAS that will judge it (§16: a proxy judges only
# Proxy-Require).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

my $mods = module_dir();
my $c = udp_client();
my $me = $c->sockport;
my $n = 0;
sub invite {
    my ($port, $require, %h) = @_;
    $n++;
    my $extra = join('', map { "$_: $h{$_}\r\n" } sort keys %h);
    return "INVITE sip:svc\@127.0.0.1:$port SIP/2.0\r\n"
         . "Via: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-rq$n;rport\r\nMax-Forwards: 70\r\n"
         . "To: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=rq$n\r\nCall-ID: req-$n\@t\r\n"
         . "CSeq: 1 INVITE\r\nContact: <sip:t\@127.0.0.1:$me>\r\nSupported: 100rel\r\n"
         . ($require ? "Require: $require\r\n" : '') . $extra . "Content-Length: 0\r\n\r\n";
}

# --- a UAS module (t_dialog) ---------------------------------------------
my $port = free_port();
my ($pid) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_dialog
Y
my $r = send_recv($c, $port, invite($port, 'foo, 100rel', 'X-Mode' => 'uas'));
is(sip_status($r), '420', 'an unknown option tag: 420');
is(sip_header($r, 'Unsupported'), 'foo', 'naming only the tag we lack');

$c->send(invite($port, '100rel, timer', 'X-Mode' => 'uas', 'X-Early' => 300, 'X-Unreliable' => 'yes',
                'Session-Expires' => '1800'), 0, pack_sockaddr_in_port($port));
my $p;
for (1 .. 5) { $p = recv_msg($c, 5) // last; last if sip_status($p) =~ /^1[1-9]\d$/ }
is(sip_status($p), '183', 'Require: 100rel, timer admitted: the module rings');
like(sip_header($p, 'Require'), qr/\b100rel\b/, 'the 183 requires 100rel, though the module did not ask');
like(sip_header($p, 'RSeq'), qr/^\d+$/, 'and carries an RSeq: it is sent reliably');
# the module answers 300 ms later: the call is set up and ACKed, so that
# the stop ends a dialog, not a module's pending answer
my $fin;
for (1 .. 20) { $fin = recv_msg($c, 5) // last; last if sip_status($fin) =~ /^[2-6]/ }
is(sip_status($fin), '200', 'then the module answers 200');
if ($fin) {
    my ($to) = $fin =~ /^To: ([^\r]*)\r$/m;
    $c->send("ACK sip:svc\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-rqack;rport\r\n"
           . "Max-Forwards: 70\r\nTo: $to\r\nFrom: <sip:t\@127.0.0.1>;tag=rq$n\r\nCall-ID: req-$n\@t\r\n"
           . "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in_port($port));
}
is(stop_server($pid), 0, 'clean stop');

# --- a proxy passes Require on ---------------------------------------------
($c, $me) = (udp_client());     # a fresh caller: the first call's leftovers stay behind
$me = $c->sockport;
my $uas = udp_client();
my $uport = $uas->sockport;
$port = free_port();
($pid) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: proxy
    routes:
      - domain: 127.0.0.1
        targets: [ "sip:uas\@127.0.0.1:$uport" ]
Y
my $inv = invite($port, 'siprec');
$c->send($inv, 0, pack_sockaddr_in_port($port));
my $fwd = recv_msg($uas, 5);
like($fwd // '', qr/^INVITE /, 'the proxy forwards an INVITE requiring an extension we lack');
is(sip_header($fwd, 'Require'), 'siprec', 'with its Require, for the UAS to judge');
$uas->send(sip_answer($fwd, '420 Bad Extension'), 0, pack_sockaddr_in_port($port)) if $fwd;
my $ans;
for (1 .. 10) { $ans = recv_msg($c, 5) // last; last if sip_status($ans) =~ /^[2-6]/ }
is(sip_status($ans), "420", "the UAS's own 420 comes back") or diag($ans // "nothing");
$c->send(non2xx_ack($inv, $ans), 0, pack_sockaddr_in_port($port)) if $ans;
is(stop_server($pid), 0, 'clean stop');

sub pack_sockaddr_in_port { return Socket::pack_sockaddr_in($_[0], Socket::inet_aton('127.0.0.1')) }
done_testing();
