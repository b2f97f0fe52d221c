# Requests of the server's own (sc_request) end to end, and how they
# leave (RFC 3261 §18.1.1): UDP with retransmissions (timer E) to a peer
# that answers late, 408 when nobody answers, TCP for a request too big
# for UDP (that request only), the connection a peer opened reused
# instead of a new one, 503 when a connection is refused.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use IO::Socket::INET;
use IO::Select;
use SipTest;
use Socket qw(pack_sockaddr_in inet_aton);

my $build = $ENV{SC_BUILD} // 'objs';
my $mods = module_dir();

my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  log: { level: debug }
  timers: { t1: 50, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_uac
Y

# the peer the server sends to: UDP and TCP on one port
my $peer_port = free_port();
my $pu = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $peer_port) or die $!;
my $pt = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1', LocalPort => $peer_port,
                               Listen => 5, ReuseAddr => 1) or die $!;
my $c = udp_client();
my $me = $c->sockport;

sub trigger {
    my ($target, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return "MESSAGE sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-" . int(rand(1e9))
         . ";rport\r\nMax-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
         . "Call-ID: " . int(rand(1e9)) . "\@uac\r\nCSeq: 1 MESSAGE\r\nX-Target: $target\r\n$extra"
         . "Content-Length: 0\r\n\r\n";
}
# the final answer to a trigger; a 100 may come first (RFC 4320: once the
# client's timer E would reach T2)
sub final_answer {
    my ($sock, $secs, $tcp) = @_;
    my $end = time + $secs;
    while ((my $left = $end - time) > 0) {
        my $r = $tcp ? read_tcp_msg($sock, $left) : recv_msg($sock, $left);
        return $r unless defined $r && $r =~ m{^SIP/2\.0 1\d\d };
    }
    return undef;
}
sub send_to_server { $c->send($_[0], 0, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die $! }
sub reason { my ($r) = @_; return defined $r && $r =~ m{^SIP/2\.0 (\d{3} [^\r]*)} ? $1 : 'none' }
# A response to $req (the headers RFC 3261 §8.2.6 copies), status line $sl.
sub answer {
    my ($req, $sl, $tag) = @_;
    my $out = "SIP/2.0 $sl\r\n";
    for my $h (qw(Via From To Call-ID CSeq)) {
        my $v = sip_header($req, $h);
        $v .= ";tag=$tag" if $h eq 'To' && $tag;
        $out .= "$h: $v\r\n";
    }
    return $out . "Content-Length: 0\r\n\r\n";
}
sub read_tcp_msg {
    my ($s, $secs) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $end = time + $secs;
    while (time < $end) {
        if ($buf =~ /\r\n\r\n/ && $buf =~ /Content-Length: (\d+)/i) {
            my $hl = index($buf, "\r\n\r\n") + 4;
            return substr($buf, 0, $hl + $1) if length($buf) >= $hl + $1;
        }
        last unless $sel->can_read($end - time);
        my $n = sysread($s, my $chunk, 65536);
        last unless $n;
        $buf .= $chunk;
    }
    return undef;
}

# 1. UDP, answered late: timer E retransmits, the answer reaches the module
send_to_server(trigger("sip:peer\@127.0.0.1:$peer_port"));
my $req = recv_msg($pu, 2);
like($req, qr{^OPTIONS sip:peer\@127\.0\.0\.1:$peer_port SIP/2\.0\r$}m, 'the module\'s OPTIONS arrives over UDP');
like($req, qr{^Via: SIP/2\.0/UDP 127\.0\.0\.1:$port;branch=z9hG4bK\w+;rport\r$}m, 'Via: our UDP address, a fresh branch, rport');
like($req, qr{^Max-Forwards: 70\r$}m, 'Max-Forwards 70');
like($req, qr{^From: <sip:sipchain\@127\.0\.0\.1:$port>;tag=\w+\r$}m, 'From with a tag');
like($req, qr{^CSeq: 1 OPTIONS\r$}m, 'CSeq');
like($req, qr{^X-From-Module: t_uac\r$}m, 'the module\'s header');
my $again = recv_msg($pu, 1);
is(sip_header($again, 'Via'), sip_header($req, 'Via'), 'unanswered, it is retransmitted (timer E), same branch');
my $from = $pu->peername;
$pu->send(answer($req, '100 Trying'), 0, $from);
$pu->send(answer($req, '200 OK', 'p1'), 0, $from);
is(reason(final_answer($c, 2)), '200 got 200 OK after 1 provisional', 'the module got the 100 and the 200');
my $late = 0;
$late++ while defined recv_msg($pu, 0.3);
cmp_ok($late, '<=', 1, 'no retransmission once answered (at most one crossed the answer)');

# 2. nobody answers: 408 after timer F (64*T1 = 3.2 s here)
my $t0 = time;
send_to_server(trigger("sip:peer\@127.0.0.1:$peer_port"));
my $n = 0;
$n++ while defined recv_msg($pu, 0.5) && time - $t0 < 5;
my $r = final_answer($c, 5);
is(reason($r), '200 got 408 Request Timeout after 0 provisional', 'unanswered: the module gets 408');
cmp_ok($n, '>=', 5, "retransmitted meanwhile ($n copies)");

# 3. too big for UDP: this request goes over TCP (§18.1.1), the next small one UDP again
send_to_server(trigger("sip:peer\@127.0.0.1:$peer_port", 'X-Pad' => 2000));
my $conn = $pt->accept;
ok($conn, 'a 2000-octet request opens a TCP connection to the peer');
$req = $conn ? read_tcp_msg($conn, 2) : undef;
like($req, qr{^Via: SIP/2\.0/TCP 127\.0\.0\.1:$port;}m, 'its Via says TCP');
like($req, qr{^Content-Length: 2000\r$}m, 'the whole body');
print $conn answer($req, '200 OK', 'p2') if $conn;
is(reason(final_answer($c, 2)), '200 got 200 OK after 0 provisional', 'answered over TCP');
send_to_server(trigger("sip:peer\@127.0.0.1:$peer_port"));
$req = recv_msg($pu, 2);
like($req, qr{^Via: SIP/2\.0/UDP }m, 'the next small request is UDP again: decided per request');
$pu->send(answer($req, '200 OK', 'p3'), 0, $pu->peername);
is(reason(final_answer($c, 2)), '200 got 200 OK after 0 provisional', 'answered');

# 4. a peer's own connection is reused: nothing listens at its port
my $tc = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => '127.0.0.1', PeerPort => $port) or die $!;
my $tport = $tc->sockport;
(my $tmsg = trigger("sip:me\@127.0.0.1:$tport;transport=tcp")) =~ s{Via: SIP/2\.0/UDP 127\.0\.0\.1:$me}{Via: SIP/2.0/TCP 127.0.0.1:$tport};
print $tc $tmsg;
$req = read_tcp_msg($tc, 2);
like($req, qr{^OPTIONS sip:me\@127\.0\.0\.1:$tport;transport=tcp SIP/2\.0\r$}m,
     'a request to a peer connected over TCP comes over its own connection');
print $tc answer($req, '200 OK', 'p4');
is(reason(final_answer($tc, 2, 1)), '200 got 200 OK after 0 provisional', 'answered over it');
close $tc;

# 5. a refused connection is a transport error at once (§17.1.4), not a timeout
my $closed = free_port();
$t0 = time;
send_to_server(trigger("sip:x\@127.0.0.1:$closed;transport=tcp"));
is(reason(final_answer($c, 3)), '200 got 503 Service Unavailable (transport error) after 0 provisional',
   'connection refused: 503 to the module');
cmp_ok(time - $t0, '<', 1, 'at once');

# 6. what sc_request refuses
send_to_server(trigger("tel:+15551234"));
is(reason(final_answer($c, 2)), '500 sc_request refused', 'a tel: URI is refused (host names: t/dns.t)');
is(stop_server($pid), 0, 'stopped');
my $text = do { local (@ARGV, $/) = $log; <> };
like($text, qr/sc_request: OPTIONS tel:\+15551234: cannot send to tel:\+15551234: not a sip: or sips: URI/, 'and logged why');
done_testing();
