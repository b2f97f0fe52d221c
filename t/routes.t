# Static routes (issue 18 points 6 and 7), proxy and b2bua: a route is a
# next hop and keeps the Request-URI (a Route only for a target with
# ;lr); rewrite: host and rewrite: uri; in a registrar domain a route by
# user prefix wins over the location service and a route serves users
# with no binding, while registered users still get their contacts;
# domains and route domains match in any case and IPv6 with or without
# brackets.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
my ($gw, $gwport) = udp_peer();         # the PSTN gateway
my ($ph, $phport) = udp_peer();         # a registered phone
my $port = free_port();
my ($pid) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ Example.COM, "::1" ]
  - module: proxy
    routes:
      - domain: EXAMPLE.com
        user_prefix: "9"
        targets: [ "sip:127.0.0.1:$gwport;lr" ]
      - domain: "[::1]"
        user_prefix: "7"
        targets: [ "sip:127.0.0.1:$gwport" ]
      - domain: pstn.example
        targets: [ "sip:127.0.0.1:$gwport" ]
      - domain: rw.example
        rewrite: host
        targets: [ "sip:127.0.0.1:$gwport" ]
      - domain: example.com
        rewrite: uri
        targets: [ "sip:vm\@127.0.0.1:$gwport" ]
Y

my $c = udp_client();
my $me = $c->sockport;
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
sub register {
    my ($sock, $aor, $contact, $ruri) = @_;
    $n++;
    my $sp = $sock->sockport;
    my $m = "REGISTER $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-reg$n;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <$aor>\r\nFrom: <$aor>;tag=r$n\r\n"
          . "Call-ID: reg-$n\r\nCSeq: 1 REGISTER\r\nContact: $contact\r\nContent-Length: 0\r\n\r\n";
    $sock->send($m, 0, $to) or die;
    my $end = time + 2;         # the ACK of an earlier call may come first
    while ((my $l = $end - time) > 0) { my $r = recv_msg($sock, $l) // last; return sip_status($r) if $r =~ /^SIP/ }
    return 'none';
}
my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
sub invite {
    my ($ruri, $cid) = @_;
    return "INVITE $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-$cid;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <$ruri>\r\nFrom: <sip:caller\@example.com>;tag=c$cid\r\n"
         . "Call-ID: $cid\r\nCSeq: 1 INVITE\r\nContact: <sip:caller\@127.0.0.1:$me>\r\n"
         . "Content-Type: application/sdp\r\nContent-Length: " . length($sdp) . "\r\n\r\n$sdp";
}
sub answer { return sip_answer(@_) }
sub final_for { my ($cid, $secs) = @_; my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) { my $r = recv_msg($c, $l) // last; return $r if $r =~ /^SIP\/2\.0 [2-6]/ && sip_header($r, 'Call-ID') eq $cid } return undef }
# INVITE ruri; the request the peer s gets (answered 486), and the final
# answer the caller gets.
sub call {
    my ($ruri, $cid, $s, $to_addr) = @_;
    $c->send(invite($ruri, $cid), 0, $to_addr // $to);
    my $got = recv_request($s // $gw, 'INVITE');
    ($s // $gw)->send(answer($got, '486 Busy Here'), 0, ($s // $gw)->peername) if $got;
    return ($got // '', sip_status(final_for($cid)));
}

# the phones: 9123 (a number the prefix route takes), bob, and carol at
# the IPv6 domain written another way
is(register($ph, 'sip:9123@example.com', "<sip:9123\@127.0.0.1:$phport>", 'sip:EXAMPLE.com'), '200',
   'registered in a domain configured in another case');
is(register($ph, 'sip:bob@example.com', "<sip:bob\@127.0.0.1:$phport>", 'sip:example.com'), '200', 'bob registered');
is(register($ph, 'sip:carol@[0:0::1]', "<sip:carol\@127.0.0.1:$phport>", 'sip:[::1]'), '200',
   'registered at an IPv6 domain configured as ::1 (written [0:0::1])');

my ($r, $st) = call('sip:9123@example.com', 'p-1');
like($r, qr/^INVITE sip:9123\@example\.com SIP/, 'local domain, user prefix 9: the gateway gets the Request-URI unchanged');
is(sip_header($r, 'Route'), "<sip:127.0.0.1:$gwport;lr>", 'with the target as its Route (it has lr)');
is($st, '486', 'the route wins over 9123\'s binding; the gateway\'s answer goes up');

($r, $st) = call('sip:bob@example.com', 'p-2', $ph);
like($r, qr/^INVITE sip:bob\@127\.0\.0\.1:$phport SIP/, 'a registered user still gets his contact');
is($st, '486', 'his answer goes up');

($r, $st) = call('sip:nobody@example.com', 'p-3');
like($r, qr/^INVITE sip:vm\@127\.0\.0\.1:$gwport SIP/, 'no binding: the domain route (rewrite: uri) serves the user');
is(sip_header($r, 'Route'), '', 'no Route with rewrite: uri');

($r, $st) = call('sip:+4930123@PSTN.example;user=phone', 'p-4');
like($r, qr/^INVITE sip:\+4930123\@PSTN\.example;user=phone SIP/, 'another domain (matched in any case): Request-URI unchanged');
is(sip_header($r, 'Route'), '', 'no Route for a target without lr');
is($st, '486', 'its answer goes up');

($r, $st) = call('sip:alice@rw.example:5080;x=1', 'p-5');
like($r, qr/^INVITE sip:alice\@127\.0\.0\.1:$gwport;x=1 SIP/, 'rewrite: host puts the target\'s host and port in the Request-URI');

($r, $st) = call('sip:7000@[::1]', 'p-6');
like($r, qr/^INVITE sip:7000\@\[::1\] SIP/, 'a route domain "[::1]" matches sip:7000@[::1], Request-URI unchanged');
($r, $st) = call('sip:carol@[::1]', 'p-7', $ph);
like($r, qr/^INVITE sip:carol\@127\.0\.0\.1:$phport SIP/, 'the IPv6 domain\'s user reached at her contact');

is(stop_server($pid), 0, 'proxy server stopped');

# the b2bua: the same rules for B's Request-URI and next hop
my $port2 = free_port();
my ($pid2) = start_server(port => $port2, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port2" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: b2bua
    methods: [ INVITE ]
    routes:
      - user_prefix: "9"
        targets: [ "sip:127.0.0.1:$gwport;lr" ]
      - domain: rw.example
        rewrite: host
        targets: [ "sip:127.0.0.1:$gwport" ]
      - domain: example.com
        rewrite: uri
        targets: [ "sip:vm\@127.0.0.1:$gwport" ]
Y
my $to2 = pack_sockaddr_in($port2, inet_aton('127.0.0.1'));
$to = $to2;
is(register($ph, 'sip:9123@example.com', "<sip:9123\@127.0.0.1:$phport>", 'sip:example.com'), '200', 'b2bua: 9123 registered');
($r, $st) = call('sip:9123@example.com', 'b-1', $gw, $to2);
like($r, qr/^INVITE sip:9123\@example\.com SIP/, 'b2bua: user prefix route in the local domain, B\'s Request-URI is A\'s');
is(sip_header($r, 'Route'), "<sip:127.0.0.1:$gwport;lr>", 'B\'s INVITE goes via the target (one lr)');
is($st, '486', 'B\'s answer goes to A');
($r, $st) = call('sip:alice@rw.example;x=1', 'b-2', $gw, $to2);
like($r, qr/^INVITE sip:alice\@127\.0\.0\.1:$gwport;x=1 SIP/, 'b2bua: rewrite: host');
($r, $st) = call('sip:nobody@example.com', 'b-3', $gw, $to2);
like($r, qr/^INVITE sip:vm\@127\.0\.0\.1:$gwport SIP/, 'b2bua: no binding, the domain route (rewrite: uri)');
is(sip_header($r, 'Route'), '', 'b2bua: no Route with rewrite: uri');
is(stop_server($pid2), 0, 'b2bua server stopped');

# a bad rewrite value is refused at load
my $bad = write_file('bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                     . "  - module: proxy\n    routes:\n      - domain: x.example\n        rewrite: user\n"
                     . "        targets: [ \"sip:127.0.0.1\" ]\n");
my $out = `@{[sipchain()]} -t -c $bad 2>&1`;
isnt($? >> 8, 0, 'sipchain -t refuses rewrite: user');
like($out, qr/rewrite is none, host or uri/, 'and says why');

done_testing();
