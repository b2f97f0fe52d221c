# The answers the core gives before any module runs (DESIGN §6), over
# UDP with raw sockets, and an empty chain's end-of-chain answer.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

my ($pid, $port, $log) = start_server();
my $c = udp_client();
my $me = $c->sockport;

sub req {
    my ($method, %h) = @_;
    my $ruri = $h{ruri} // 'sip:service@127.0.0.1';
    my $extra = $h{extra} // '';
    my $cseqm = $h{cseq_method} // $method;
    return "$method $ruri SIP/2.0\r\n"
         . "Via: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-" . int(rand(1e9)) . ";rport\r\n"
         . "Max-Forwards: " . ($h{mf} // 70) . "\r\n"
         . "To: <sip:service\@127.0.0.1>\r\nFrom: <sip:tester\@127.0.0.1>;tag=t1\r\n"
         . "Call-ID: " . int(rand(1e9)) . "\@test\r\nCSeq: 1 $cseqm\r\n$extra"
         . "Content-Length: 0\r\n\r\n";
}

sub status_of { my ($r) = @_; return defined $r && $r =~ m{^SIP/2\.0 (\d{3}) ([^\r\n]*)} ? ($1, $2) : ('none', '') }

my ($st, $why) = status_of(send_recv($c, $port, req('OPTIONS')));
is($st, '404', 'a request reaching the end of the empty chain gets 404');

my $r = send_recv($c, $port, req('OPTIONS'));
like($r, qr{^Via: SIP/2\.0/UDP 127\.0\.0\.1:$me;branch=z9hG4bK-\d+;rport=$me;received=127\.0\.0\.1\r$}m,
     'the top Via of the answer carries rport and received (RFC 3581)');
like($r, qr{^To: <sip:service\@127\.0\.0\.1>;tag=[0-9a-f]{16}\r$}m, 'the answer adds a To tag');
like($r, qr{^Server: sipchain/}m, 'the answer names the server');
like($r, qr{^Content-Length: 0\r$}m, 'the answer has a Content-Length');

($st, $why) = status_of(send_recv($c, $port, torture('rfc4475/lwsstart.dat')));
is("$st $why", '400 Extra whitespace in Request-Line', 'RFC 4475 lwsstart: 400 naming the defect');
($st, $why) = status_of(send_recv($c, $port, torture('rfc4475/badinv01.dat')));
is("$st $why", '400 Via: empty parameter', 'RFC 4475 badinv01: 400 naming the defect');
($st, $why) = status_of(send_recv($c, $port, torture('rfc4475/clerr.dat')));
is("$st $why", '400 Content-Length exceeds datagram', 'RFC 4475 clerr: 400 Content-Length exceeds datagram');
($st, $why) = status_of(send_recv($c, $port, torture('rfc4475/mismatch01.dat')));
is("$st $why", '400 CSeq method does not match request method', 'RFC 4475 mismatch01');
($st, $why) = status_of(send_recv($c, $port, torture('rfc4475/insuf.dat')));
is("$st $why", '400 Missing From header', 'RFC 4475 insuf: 400 even without From/To/Call-ID');
($st) = status_of(send_recv($c, $port, torture('rfc4475/badvers.dat')));
is($st, '505', 'RFC 4475 badvers: 505');
($st) = status_of(send_recv($c, $port, torture('rfc4475/unkscm.dat')));
is($st, '416', 'RFC 4475 unkscm: 416 Unsupported URI Scheme');
$r = send_recv($c, $port, torture('rfc4475/bext01.dat'));
($st) = status_of($r);
is($st, '420', 'RFC 4475 bext01: 420 Bad Extension');
like($r, qr{^Unsupported: nothingSupportsThis, nothingSupportsThisEither\r$}m, '420 lists the unknown option tags');

($st) = status_of(send_recv($c, $port, req('INFO', mf => 0)));
is($st, '483', 'Max-Forwards 0: 483 Too Many Hops');
($st) = status_of(send_recv($c, $port, req('OPTIONS', mf => 0)));
is($st, '404', 'OPTIONS with Max-Forwards 0 is answered, not refused');

# 513: a datagram over the configured limit (a second server with a small one)
my $p2 = free_port();
my ($pid2, $port2) = start_server(port => $p2, yaml => "server:\n  listen: [ \"udp:127.0.0.1:$p2\" ]\n  limits: { max_message_size: 1000 }\n");
{
    my $big = req('OPTIONS', extra => 'X-Pad: ' . ('a' x 1200) . "\r\n");
    ($st, $why) = status_of(send_recv($c, $port2, $big));
    is("$st $why", '513 Message too large (limit 1000 octets)', 'a datagram over max_message_size gets 513');
    ($st) = status_of(send_recv($c, $port2, req('OPTIONS')));
    is($st, '404', 'and the server carries on');
}
is(stop_server($pid2), 0, 'second server stopped');

# INVITE gets 100 Trying before the final answer
my $inv = req('INVITE');
$r = send_recv($c, $port, $inv);
($st) = status_of($r);
is($st, '100', 'INVITE: 100 Trying first');
unlike($r, qr{^To:[^\r]*tag=}m, '100 Trying carries no To tag');
$r = recv_msg($c, 2);
($st) = status_of($r);
is($st, '404', 'then the final answer');
# the ACK for it (same branch, the answer's To) stops its retransmission
my ($to) = $r =~ /^(To: [^\r]*)\r$/m;
(my $ack = $inv) =~ s/^INVITE /ACK /;
$ack =~ s/CSeq: 1 INVITE/CSeq: 1 ACK/;
$ack =~ s/^To: [^\r]*/$to/m;
is(send_recv($c, $port, $ack, 0.8), undef, 'the ACK of the 404 stops its retransmission (timer G)');

# garbage, responses and ACKs get nothing, and the server stays up
for my $junk ("\x00\x01garbage", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;rport\r\n\r\n",
              req('ACK'), "\r\n\r\n") {
    is(send_recv($c, $port, $junk, 0.3), undef, 'no answer to ' . (substr($junk, 0, 12) =~ s/[^ -~]/./gr));
}
($st) = status_of(send_recv($c, $port, req('OPTIONS')));
is($st, '404', 'still answering after garbage');

# IPv6 listener
SKIP: {
    my $p6 = free_port();
    my ($pid6) = eval { start_server(yaml => "server:\n  listen: [ \"udp:[::1]:$p6\" ]\n") };
    skip 'no IPv6 loopback', 1 unless $pid6;
    my $ok = 0;
    if (eval { require IO::Socket::IP; 1 }) {
        my $s6 = IO::Socket::IP->new(Proto => 'udp', PeerHost => '::1', PeerPort => $p6);
        my $myp = $s6->sockport;
        (my $m = req('OPTIONS')) =~ s/127\.0\.0\.1:\d+;branch/[::1]:$myp;branch/;
        $s6->send($m);
        my $ans = recv_msg($s6, 2);
        $ok = defined $ans && $ans =~ m{^SIP/2\.0 404}  && $ans =~ /received=::1/;
    }
    ok($ok, 'answers over IPv6 with received=::1');
    stop_server($pid6);
}

is(stop_server($pid), 0, 'SIGTERM stops the server with status 0');
my $text = do { local (@ARGV, $/) = $log; <> };
like($text, qr/bad request from 127\.0\.0\.1:\d+: 400 Extra whitespace in Request-Line/, 'bad requests are logged with their reason');
unlike($text, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error/, 'no sanitizer report');
done_testing();
