# A topmost Route naming this server (RFC 3261 §16.4): a phone set up
# with sipchain as its outbound proxy.  Whatever form the Route takes —
# our address with or without port, over UDP, TCP or TLS, IPv6 written
# in another form, an alias in any case, twice (RFC 5658) — it is taken
# off and the request is handled as if it had come without it: the
# registrar's location lookup, static routes, the Request-URI.  And the
# loop guard: nothing is forwarded to one of our own listeners.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use IO::Socket::IP;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my $port = free_port();
my $tls = free_port();
my $v6 = IO::Socket::IP->new(Proto => 'udp', LocalHost => '::1', LocalPort => 0);
my $port6 = $v6 ? $v6->sockport : 0;
undef $v6;
my ($gw, $gwport) = udp_peer();        # a gateway for a static route
my ($far, $farport) = udp_peer();      # a host elsewhere, by Request-URI
my ($bob, $bobport) = udp_peer();      # a registered phone

system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sipchain.test "
     . "-keyout $dir/key.pem -out $dir/cert.pem >/dev/null 2>&1") == 0 or die "openssl";
my $listen6 = $port6 ? qq(- "udp:[::1]:$port6") : '';
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen:
    - "udp:127.0.0.1:$port"
    - "tcp:127.0.0.1:$port"
    - { url: "tls:127.0.0.1:$tls", cert: $dir/cert.pem, key: $dir/key.pem }
    $listen6
  aliases: [ "SIPChain.Test", "203.0.113.9:5060" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: proxy
    record_route: true
    routes:
      - domain: pstn.example
        targets: [ "sip:gw\@127.0.0.1:$gwport" ]
Y

my $c = udp_client();
my $me = $c->sockport;
my $n = 0;
sub request {
    my ($method, $ruri, $route, %o) = @_;
    $n++;
    my $via = $o{via} // "SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-rt$n;rport";
    my $to = $ruri =~ /^sip:([^;>]*)/ ? "<sip:$1>" : "<$ruri>";
    return "$method $ruri SIP/2.0\r\nVia: $via\r\nMax-Forwards: 70\r\n"
         . ($route ? "Route: $route\r\n" : '')
         . "To: $to\r\nFrom: <sip:alice\@example.com>;tag=a$n\r\nCall-ID: rt-$n\r\n"
         . "CSeq: 1 $method\r\nContact: <sip:alice\@127.0.0.1:$me>\r\n"
         . ($o{extra} // '') . "Content-Length: 0\r\n\r\n";
}
sub answer { return sip_answer(@_) }
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
# The request from $c over UDP, the next request $peer gets (answered
# 486, so the transaction ends), and the final answer $c gets.
sub through {
    my ($msg, $peer, $reply_to) = @_;
    $c->send($msg, 0, $srv) or die;
    my $got = recv_request($peer, 'INVITE|MESSAGE|BYE|OPTIONS', 3);
    $peer->send(answer($got, '486 Busy Here'), 0, $reply_to // $srv) if $got;
    my $final;
    while (defined(my $r = recv_msg($c, 3))) { $final = $r, last if sip_status($r) >= 200 }
    $c->send(non2xx_ack($msg, $final), 0, $srv) if $final && $msg =~ /^INVITE/;
    return ($got, $final);
}
sub route_lines { my ($m) = @_; return join(',', $m =~ /^Route: ([^\r]*)\r$/mg) }

# bob registers through us as his outbound proxy
my $reg = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bobport;branch=z9hG4bK-bobreg;rport\r\n"
        . "Max-Forwards: 70\r\nRoute: <sip:127.0.0.1:$port;lr>\r\nTo: <sip:bob\@example.com>\r\n"
        . "From: <sip:bob\@example.com>;tag=b1\r\nCall-ID: bobreg\r\nCSeq: 1 REGISTER\r\n"
        . "Contact: <sip:bob\@127.0.0.1:$bobport>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
$bob->send($reg, 0, $srv) or die;
is(sip_status(recv_msg($bob, 3)), '200', 'REGISTER with a Route naming us reaches the registrar');

# 1: INVITE to the registered AOR, every form of a Route naming us
for my $route ("<sip:127.0.0.1:$port;lr>", "<sip:127.0.0.1;lr>", "<sip:127.0.0.1:$port;transport=udp;lr>",
               "<sip:127.0.0.1:$port;transport=tcp;lr>", "<sip:sipchain.TEST;lr>",
               "<sip:SIPCHAIN.test:$port;lr>", "<sip:203.0.113.9;lr>",
               "<sip:127.0.0.1:$port;lr>, <sip:sipchain.test;transport=tls;lr>") {
    my ($got, $final) = through(request('INVITE', 'sip:bob@example.com', $route), $bob);
    ok($got && $got =~ m{^INVITE sip:bob\@127\.0\.0\.1:$bobport SIP/2\.0}, "Route $route: the location lookup finds bob")
        or diag($got // 'nothing reached bob');
    is(route_lines($got // ''), '', "Route $route: taken off") if $got;
    is(sip_status($final), '486', "Route $route: bob's answer comes back");
}

# 2: a Route after ours is the next hop; ours is gone from what goes on
{
    my ($got) = through(request('INVITE', 'sip:someone@elsewhere.example', "<sip:127.0.0.1:$port;lr>,<sip:127.0.0.1:$farport;lr>"), $far);
    ok($got, 'the Route after ours is the next hop');
    is(route_lines($got // ''), "<sip:127.0.0.1:$farport;lr>", 'only the Route after ours goes on');
}

# 3: a static route (the Request-URI's domain) applies as without a Route
{
    my ($got, $final) = through(request('INVITE', 'sip:9123@pstn.example', "<sip:127.0.0.1:$port;lr>"), $gw);
    ok($got, 'a static route applies to a request that came with our Route');
    is(route_lines($got // ''), '', 'no Route of ours reaches the gateway');
}

# 4: the Request-URI elsewhere: sent there
{
    my ($got) = through(request('MESSAGE', "sip:carol\@127.0.0.1:$farport", "<sip:127.0.0.1:$port;lr>"), $far);
    ok($got && $got =~ m{^MESSAGE sip:carol\@127\.0\.0\.1:$farport }, 'the Request-URI is the next hop once our Route is gone');
}

# 5: over TCP, with transport=tcp in the Route
{
    my $t = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or die "tcp: $!";
    my $tp = $t->sockport;
    $t->syswrite(request('INVITE', 'sip:bob@example.com', "<sip:127.0.0.1:$port;transport=tcp;lr>",
                         via => "SIP/2.0/TCP 127.0.0.1:$tp;branch=z9hG4bK-tcp1"));
    my $got = recv_request($bob, 'INVITE', 3);
    ok($got, 'over TCP: the Route naming our TCP listener is ours');
    is(sip_header($got, 'Record-Route'), "<sip:127.0.0.1:$port;transport=udp;lr>, <sip:127.0.0.1:$port;transport=tcp;lr>",
       'TCP in, UDP out: two Record-Routes, each naming its side (RFC 5658)');
    $bob->send(answer($got, '486 Busy Here'), 0, $srv) if $got;
    my $buf = '';
    my $sel = IO::Select->new($t);
    my $end = time + 3;
    while ($buf !~ m{SIP/2\.0 486} && time < $end && $sel->can_read(0.5)) { sysread($t, $buf, 65536, length $buf) or last }
    like($buf, qr{SIP/2\.0 486}, 'over TCP: the answer comes back on the connection');
    close $t;
}

# 6: over TLS, with transport=tls (before: compared against 5060 and
# forwarded back to us)
{
    my $req = write_file('tls-invite.txt', request('INVITE', 'sip:bob@example.com', "<sip:127.0.0.1:$tls;transport=tls;lr>",
                                                    via => "SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK-tls1"));
    my $pid2 = fork() // die;
    if ($pid2 == 0) {
        exec("sh", "-c", "(cat $req; sleep 2) | timeout 10 openssl s_client -connect 127.0.0.1:$tls -quiet >$dir/tls.out 2>&1");
        exit 127;
    }
    my $got = recv_request($bob, 'INVITE', 5);
    ok($got && $got =~ m{^INVITE sip:bob\@127\.0\.0\.1:$bobport }, 'over TLS: the Route naming our TLS listener is ours');
    $bob->send(answer($got, '486 Busy Here'), 0, $srv) if $got;
    waitpid($pid2, 0);
    my $out = do { local (@ARGV, $/) = "$dir/tls.out"; <> } // '';
    like($out, qr{SIP/2\.0 486}, 'over TLS: bob\'s answer comes back');
}

# 7: IPv6, written as the listener is and in a longer form
SKIP: {
    skip 'no IPv6 loopback', 11 unless $port6;
    my $s6 = IO::Socket::IP->new(Proto => 'udp', LocalHost => '::1', LocalPort => 0) or die;
    my $p6 = $s6->sockport;
    my $to6 = IO::Socket::IP->new(Proto => 'udp', PeerHost => '::1', PeerPort => $port6) or die;
    for my $route ("<sip:[::1]:$port6;lr>", "<sip:[0:0:0:0:0:0:0:1]:$port6;lr>") {
        $n++;
        my $m = request('INVITE', 'sip:bob@example.com', $route, via => "SIP/2.0/UDP [::1]:$p6;branch=z9hG4bK-v6$n;rport");
        $s6->send($m, 0, $to6->peername) or die;
        my $got = recv_request($bob, 'INVITE', 3);
        ok($got, "IPv6 Route $route: ours");
        is(sip_header($got, 'Record-Route'), "<sip:127.0.0.1:$port;transport=udp;lr>, <sip:[::1]:$port6;transport=udp;lr>",
           'IPv6 in, IPv4 out: two Record-Routes, each of its family');
        $bob->send(answer($got, '486 Busy Here'), 0, $srv) if $got;
        my $final;
        while (defined(my $r = recv_msg($s6, 3))) { $final = $r, last if sip_status($r) >= 200 }
        is(sip_status($final), '486', "IPv6 Route $route: answered");
    }
    # an IPv4 caller to a phone registered over IPv6
    my $reg6 = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:$p6;branch=z9hG4bK-reg6;rport\r\n"
             . "Max-Forwards: 70\r\nTo: <sip:carol6\@example.com>\r\nFrom: <sip:carol6\@example.com>;tag=c6\r\n"
             . "Call-ID: reg6\r\nCSeq: 1 REGISTER\r\nContact: <sip:carol6\@[::1]:$p6>\r\nExpires: 300\r\n"
             . "Content-Length: 0\r\n\r\n";
    $s6->send($reg6, 0, $to6->peername) or die;
    is(sip_status(recv_msg($s6, 3)), '200', 'carol registers over IPv6');
    my ($got6, $final6) = through(request('INVITE', 'sip:carol6@example.com'), $s6, $to6->peername);
    is(sip_status($final6), '486', 'and carol6\'s answer comes back');
    is(sip_header($got6 // '', 'Record-Route'), "<sip:[::1]:$port6;transport=udp;lr>, <sip:127.0.0.1:$port;transport=udp;lr>",
       'IPv4 caller, IPv6 callee: two Record-Routes, each of its family');
    # bob's in-dialog request along that route set reaches the IPv6 caller
    my $bye = "BYE sip:alice\@[::1]:$p6 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bobport;branch=z9hG4bK-bye6;rport\r\n"
            . "Max-Forwards: 70\r\nRoute: <sip:127.0.0.1:$port;transport=udp;lr>, <sip:[::1]:$port6;transport=udp;lr>\r\n"
            . "To: <sip:alice\@example.com>;tag=a1\r\nFrom: <sip:bob\@example.com>;tag=b1\r\nCall-ID: bye6\r\n"
            . "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    $bob->send($bye, 0, $srv) or die;
    my $got = recv_request($s6, 'BYE', 3);
    ok($got, 'a BYE along both Routes of ours reaches the IPv6 caller');
    is(route_lines($got // ''), '', 'both Routes of ours were consumed');
}

# 8: the loop guard: a Request-URI naming us at an address no module
# serves is not forwarded to ourselves
{
    $c->send(request('OPTIONS', "sip:nobody\@127.0.0.1:$port"), 0, $srv) or die;
    my $r = recv_msg($c, 3);
    is(sip_status($r), '482', 'a next hop that is this server: 482, not sent');
    like($r // '', qr{^SIP/2\.0 482 Loop Detected \(the next hop is this server\)}m, 'the reason says why');
    $c->send(request('OPTIONS', "sip:nobody\@sipchain.test:$port"), 0, $srv) or die;
    is(sip_status(recv_msg($c, 3)), '482', 'also by alias');
    # a target at our address without a port is on 5060: another
    # endpoint, not us (we listen elsewhere), so it is tried, not refused
    $c->send(request('MESSAGE', 'sip:carol@127.0.0.1'), 0, $srv) or die;
    my $r2;
    while (defined(my $r = recv_msg($c, 10))) { $r2 = $r, last if sip_status($r) >= 200 }
    isnt(sip_status($r2), '482', 'sip:carol@127.0.0.1 (port 5060, not ours): tried, not a loop');
}

# 9: a Route naming another port of ours that we do not listen on is not ours
{
    my ($got) = through(request('MESSAGE', "sip:carol\@127.0.0.1:$farport", "<sip:127.0.0.1:$farport;lr>"), $far);
    ok($got && route_lines($got) eq "<sip:127.0.0.1:$farport;lr>", 'a Route to another port of this host is not ours');
}

my $t = wait_log($log, qr/next hop is this server/);
like($t, qr/next hop is this server: not sent/, 'the refusal is logged');
is(stop_server($pid), 0, 'clean stop');
done_testing();
