# A large request (over the 1300-octet UDP limit of RFC 3261 §18.1.1) to
# a phone that registered over UDP: sent over the flow it registered
# from (RFC 5626) whatever its size; where no flow is known the switch
# to TCP applies, and when TCP is refused the request goes again over
# UDP (a phone that only speaks UDP).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: proxy
Y
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
sub register {
    my ($sock, $user, $contact) = @_;
    my $sp = $sock->sockport;
    $n++;
    $sock->send("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-lr$n;rport\r\n"
              . "Max-Forwards: 70\r\nTo: <sip:$user\@example.com>\r\nFrom: <sip:$user\@example.com>;tag=r$n\r\n"
              . "Call-ID: lreg-$n\r\nCSeq: 1 REGISTER\r\nContact: $contact\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n", 0, $srv) or die;
    return sip_status(recv_msg($sock, 3));
}
my $c = udp_client();
my $me = $c->sockport;
my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        . join('', map { "a=x-pad$_:" . ('p' x 60) . "\r\n" } 1 .. 25);
ok(length($sdp) > 1300, 'the body alone is over the UDP limit');
sub invite {
    my ($user) = @_;
    $n++;
    return "INVITE sip:$user\@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-li$n;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:$user\@example.com>\r\nFrom: <sip:a\@example.com>;tag=a$n\r\n"
         . "Call-ID: linv-$n\r\nCSeq: 1 INVITE\r\nContact: <sip:a\@127.0.0.1:$me>\r\n"
         . "Content-Type: application/sdp\r\nContent-Length: " . length($sdp) . "\r\n\r\n$sdp";
}
sub busy {
    my ($sock, $req) = @_;
    $sock->send(sip_answer($req, '486 Busy Here'), 0, $srv);
}

# carol: behind NAT (a private address in her Contact): her flow
my ($carol, $carolport) = udp_peer();
is(register($carol, 'carol', '<sip:carol@192.168.1.20:5060>'), '200', 'carol registers from behind NAT');
$c->send(invite('carol'), 0, $srv) or die;
my $got = recv_request($carol, 'INVITE', 3);
ok($got, 'the large INVITE reaches carol over the UDP flow she registered from');
like($got // '', qr{^Via: SIP/2\.0/UDP }m, 'over UDP');
is(length($got // '') > 1300, 1, 'whole, in one datagram');
busy($carol, $got) if $got;

# dave: a Contact reachable as it is, no flow: TCP is tried for the
# size, refused, and UDP follows
my ($dave, $daveport) = udp_peer();
is(register($dave, 'dave', "<sip:dave\@127.0.0.1:$daveport>"), '200', 'dave registers');
$c->send(invite('dave'), 0, $srv) or die;
$got = recv_request($dave, 'INVITE', 5);
ok($got, 'TCP refused: the large INVITE reaches dave over UDP');
like($got // '', qr{^Via: SIP/2\.0/UDP }m, 'over UDP');
busy($dave, $got) if $got;
like(wait_log($log, qr/again over UDP/), qr/TCP failed for a large request: again over UDP/, 'logged once');

my @finals;
while (defined(my $r = recv_msg($c, 2))) { push @finals, sip_status($r) if sip_status($r) >= 200 }
ok((grep { $_ eq '486' } @finals) >= 2, 'both answers come back to the caller') or diag("@finals");
is(stop_server($pid), 0, 'clean stop');
done_testing();
