# Our address on a host with several: listeners on 0.0.0.0 write, in
# Via, Record-Route and Contact, the local address the message leaves
# from (never the wildcard), and datagrams leave from it; a listener's
# `advertise` address is written instead (1:1 NAT) and names us when it
# comes back in a Route; server.udp_mtu moves a request to TCP; with
# only TCP configured a URI naming no transport goes over TCP, one naming
# UDP fails; `sipchain -t` warns of a wildcard listener that can only
# name itself by loopback, and refuses a bad advertise with file:line:col;
# the same over IPv6 (IPV6_PKTINFO).
#
# The host with several addresses is a network namespace the test
# creates (ip netns, root needed) with 10.77.1.1 and 10.77.2.1 on its
# loopback; the test runs itself again inside it and removes it however
# that run ends; processes it started are stopped by pid.
use strict;
use warnings;
use Time::HiRes qw(time sleep);

# --- outside: the namespace, then this test again inside it ----------------
use lib 't/lib';
use Netns;
Netns::reexec(env => 'SC_ADDRS_NS', prefix => 'sc-addr', addrs => [qw(10.77.1.1 10.77.2.1)],
              timeout => 120);

# --- inside the namespace ----------------------------------------------------
require Test::More;
Test::More->import();
require SipTest;
SipTest->import();
use IO::Socket::INET;
use IO::Select;
use Socket qw(pack_sockaddr_in inet_aton unpack_sockaddr_in inet_ntoa);

my ($A, $B) = ('10.77.1.1', '10.77.2.1');
my $mods = module_dir();

sub sock_on { IO::Socket::INET->new(Proto => 'udp', LocalAddr => $_[0], LocalPort => 0) or die "socket: $!" }
# the next datagram on s within secs and who sent it ("ip:port")
sub recv_from {
    my ($s, $secs) = @_;
    return (undef, '') unless IO::Select->new($s)->can_read($secs // 3);
    my $buf;
    my $from = $s->recv($buf, 70000);
    my ($p, $ip) = unpack_sockaddr_in($from);
    return ($buf, inet_ntoa($ip) . ":$p");
}
sub recv_req {          # the next request of that method and Call-ID (others skipped)
    my ($s, $method, $cid, $secs) = @_;
    my $end = time + ($secs // 3);
    while (time < $end) {
        my ($m, $from) = recv_from($s, $end - time);
        return ($m, $from) if defined $m && $m =~ /^$method / && ($cid eq '.*' || $m =~ /^Call-ID: \Q$cid\E\r$/m);
    }
    return (undef, '');
}
sub sendto { my ($s, $ip, $port, $msg) = @_; $s->send($msg, 0, pack_sockaddr_in($port, inet_aton($ip))) or die "send: $!" }
sub invite {
    my ($uri, $via, $cid, %o) = @_;
    my $body = $o{pad} ? ('a=x-pad:' . ('x' x $o{pad}) . "\r\n") : '';
    my $hdr = $o{hdr} // '';
    return "INVITE $uri SIP/2.0\r\nVia: SIP/2.0/$via;branch=z9hG4bK-$cid;rport\r\nMax-Forwards: 70\r\n$hdr"
         . "From: <sip:alice\@example.com>;tag=a-$cid\r\nTo: <sip:bob\@example.com>\r\nCall-ID: $cid\r\n"
         . "CSeq: 1 INVITE\r\nContact: <sip:alice\@$A>\r\nContent-Type: application/sdp\r\n"
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
sub via_top { my ($m) = @_; return $m =~ /^Via: ([^\r]*)\r$/m ? $1 : '' }

# --- 1: a wildcard listener ---------------------------------------------------
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:0.0.0.0:$port", "tcp:0.0.0.0:$port" ]
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
  udp_mtu: 1000
modules_path: $mods
chain:
  - module: options
    methods: [ OPTIONS ]
  - module: t_dialog
  - module: proxy
    record_route: true
Y

# an answer leaves from the address the request came to (IP_PKTINFO),
# not the one the route to the caller would pick
my $a = sock_on($A);
my $ap = $a->sockport;
my $opt = "OPTIONS sip:$B:$port SIP/2.0\r\nVia: SIP/2.0/UDP $A:$ap;branch=z9hG4bK-o1;rport\r\n"
        . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:$B>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n"
        . "Content-Length: 0\r\n\r\n";
sendto($a, $B, $port, $opt);
my ($r, $from) = recv_from($a);
is(sip_status($r), 200, 'OPTIONS to the second address answered');
is($from, "$B:$port", 'the answer leaves from the address the request came to');
# its retransmission gets the answer again (from the ended transaction's
# record), from the same address
sendto($a, $B, $port, $opt);
($r, $from) = recv_from($a);
is(sip_status($r) . " $from", "200 $B:$port", 'a retransmission: the answer again, from the same address');

# proxied: each side gets the address it reaches us on
my $b = sock_on($B);
my $bp = $b->sockport;
sendto($a, $A, $port, invite("sip:bob\@$B:$bp", "UDP $A:$ap", 'i1'));
my ($inv, $ifrom) = recv_req($b, 'INVITE', 'i1');
ok($inv, 'INVITE forwarded to B');
like(via_top($inv // ''), qr{^SIP/2\.0/UDP \Q$B:$port\E;branch=}, 'B: our Via names the address towards B');
is($ifrom, "$B:$port", 'B: the INVITE leaves from that address');
is(sip_header($inv, 'Record-Route'), "<sip:$B:$port;transport=udp;lr>, <sip:$A:$port;transport=udp;lr>",
   'Record-Route: the address each side reaches us on (two entries)');
unlike($inv // '', qr/0\.0\.0\.0/, 'no wildcard anywhere in what B gets');
# B answers; A gets it with the Record-Route
my $rr = sip_header($inv, 'Record-Route');
(my $ok = $inv // '') =~ s/^INVITE [^\r]*/SIP\/2.0 200 OK/;
$ok =~ s/^(To: [^\r]*)/$1;tag=b1/m;
$ok =~ s/^Contact: [^\r]*\r\n//m;
$ok =~ s/^(Call-ID: [^\r]*\r\n)/${1}Contact: <sip:bob\@$B:$bp>\r\n/m;
sendto($b, $B, $port, $ok);
my ($ans) = recv_from($a);
$ans = (recv_from($a))[0] while defined $ans && sip_status($ans) < 200;
is(sip_status($ans), 200, 'A gets the 200');

# the Contact of a dialog we answer (UAS) and of a call we place (UAC)
sendto($a, $B, $port, invite("sip:svc\@$B:$port", "UDP $A:$ap", 'uas1', hdr => "X-Mode: uas\r\n"));
my $u200;
my $uend = time + 3;
while (time < $uend) { ($u200) = recv_from($a, $uend - time); last if !defined $u200 || $u200 =~ /^SIP\/2\.0 200 .*Call-ID: uas1\r/ms }
is(sip_header($u200, 'Contact'), "<sip:$B:$port>", 'UAS: our Contact is the address the INVITE came to');
sendto($a, $A, $port, invite("sip:svc\@$A:$port", "UDP $A:$ap", 'uac1', hdr => "X-Mode: uac\r\nX-Target: sip:bob\@$B:$bp\r\n"));
my ($uinv) = recv_req($b, 'INVITE', '.*');
like(sip_header($uinv, 'Contact'), qr/^<sip:\Q$B:$port\E>$/, 'UAC: our Contact is the address towards the callee');
like(via_top($uinv // ''), qr{^SIP/2\.0/UDP \Q$B:$port\E;}, 'UAC: so is our Via');

# TCP: the connection's local address (getsockname) names us
my $t = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => $A, PeerAddr => $B, PeerPort => $port)
    or die "tcp: $!";
my $tp = $t->sockport;
my $a2 = sock_on($A);
my $a2p = $a2->sockport;
$t->syswrite(invite("sip:bob\@$A:$a2p", "TCP $A:$tp", 'i2'));
($inv) = recv_req($a2, 'INVITE', 'i2');
like(via_top($inv // ''), qr{^SIP/2\.0/UDP \Q$A:$port\E;branch=}, 'TCP in, UDP out: Via names the address towards the callee');
is(sip_header($inv, 'Record-Route'), "<sip:$A:$port;transport=udp;lr>, <sip:$B:$port;transport=tcp;lr>",
   'Record-Route: the TCP side names the address the connection came to');
close $t;

# server.udp_mtu: 1000 here: a request of about 900 octets goes over TCP
# (the default 1300 would keep it on UDP), a small one stays on UDP
my $tl = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => $B, LocalPort => $bp, Listen => 5, ReuseAddr => 1)
    or die "tcp listen: $!";
sendto($a, $A, $port, invite("sip:bob\@$B:$bp", "UDP $A:$ap", 'i3', pad => 500));
my $got = '';
if (IO::Select->new($tl)->can_read(3)) {
    my $c = $tl->accept;
    my $end = time + 3;
    while (time < $end && $got !~ /\r\n\r\n/) {
        last unless IO::Select->new($c)->can_read($end - time);
        sysread($c, $got, 65536, length $got) or last;
    }
    like(via_top($got), qr{^SIP/2\.0/TCP \Q$B:$port\E;branch=}, 'udp_mtu 1000: a 900-octet request goes over TCP, Via names our address');
    close $c;
} else {
    fail('udp_mtu 1000: a 900-octet request goes over TCP');
}
sendto($a, $A, $port, invite("sip:bob\@$B:$bp", "UDP $A:$ap", 'i4'));
($inv) = recv_req($b, 'INVITE', 'i4');
ok($inv, 'a small request stays on UDP');
close $tl;
stop_server($pid);

# --- 2: advertise ---------------------------------------------------------------
my $p2 = free_port();
($pid) = start_server(port => $p2, yaml => <<Y);
server:
  listen:
    - { url: "udp:0.0.0.0:$p2", advertise: "203.0.113.7:5080" }
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: proxy
    record_route: true
Y
sendto($a, $A, $p2, invite("sip:bob\@$B:$bp", "UDP $A:$ap", 'adv1'));
($inv, $ifrom) = recv_req($b, 'INVITE', 'adv1');
like(via_top($inv // ''), qr{^SIP/2\.0/UDP 203\.0\.113\.7:5080;branch=}, 'advertise: the Via names the advertised address');
is(sip_header($inv, 'Record-Route'), '<sip:203.0.113.7:5080;transport=udp;lr>', 'advertise: so does the Record-Route (once)');
is($ifrom, "$B:$p2", 'advertise: the datagram still leaves from a local address');
# B's BYE comes back with that Route: it names us, and goes on to A
sendto($b, $B, $p2, "BYE sip:alice\@$A:$ap SIP/2.0\r\nVia: SIP/2.0/UDP $B:$bp;branch=z9hG4bK-bye1;rport\r\n"
       . "Max-Forwards: 70\r\nRoute: <sip:203.0.113.7:5080;transport=udp;lr>\r\n"
       . "From: <sip:bob\@example.com>;tag=b1\r\nTo: <sip:alice\@example.com>;tag=a-adv1\r\n"
       . "Call-ID: adv1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n");
my ($bye) = recv_req($a, 'BYE', 'adv1');
ok($bye, 'advertise: a Route naming the advertised address is ours: the BYE reaches A');
ok($bye && $bye !~ /^Route:/m, 'advertise: and that Route is taken off');
stop_server($pid);

# --- 3: only TCP configured: a URI naming no transport goes over TCP ----------------
my $p3 = free_port();
($pid, undef, $log) = start_server(port => $p3, yaml => <<Y);
server:
  listen: [ "tcp:$A:$p3" ]
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: proxy
Y
$tl = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => $B, LocalPort => $bp, Listen => 5, ReuseAddr => 1)
    or die "tcp listen: $!";
$t = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => $A, PeerAddr => $A, PeerPort => $p3) or die "tcp: $!";
$tp = $t->sockport;
$t->syswrite(invite("sip:bob\@$B:$bp", "TCP $A:$tp", 'tcp1'));
$got = '';
if (IO::Select->new($tl)->can_read(3)) {
    my $c = $tl->accept;
    my $end = time + 3;
    while (time < $end && $got !~ /\r\n\r\n/) {
        last unless IO::Select->new($c)->can_read($end - time);
        sysread($c, $got, 65536, length $got) or last;
    }
    close $c;
}
like(via_top($got), qr{^SIP/2\.0/TCP \Q$A:$p3\E;branch=}, 'only TCP: a URI naming no transport goes over TCP');
# one naming UDP: we have none, and say so
$t->syswrite(invite("sip:bob\@$B:$bp;transport=udp", "TCP $A:$tp", 'tcp2'));
my $resp = '';
my $end = time + 5;
while (time < $end && $resp !~ m{^SIP/2\.0 [2-6]\d\d [^\r]*\r\n.*\r\n\r\n}s) {
    last unless IO::Select->new($t)->can_read($end - time);
    sysread($t, $resp, 65536, length $resp) or last;
    $resp =~ s{^SIP/2\.0 1\d\d [^\r]*\r\n.*?\r\n\r\n}{}s;
}
like($resp, qr{^SIP/2\.0 [45]\d\d }, 'only TCP: a URI naming UDP fails');
like(wait_log($log, qr/requested protocol\/transport not available/, 3), qr/requested protocol\/transport not available/,
     'only TCP: drachtio-server\'s words in the log');
close $t;
close $tl;
stop_server($pid);

# --- 4: sipchain -t -------------------------------------------------------------
my $cf = write_file('wild6.yaml', "server:\n  listen:\n    - \"udp:0.0.0.0:$p3\"\n    - \"udp:[::]:$p3\"\n");
my $out = `${\ sipchain()} -t -c $cf 2>&1`;
like($out, qr/warning: \Q$cf\E:4:7: listen "udp:\[::\]:$p3": a wildcard listener and this host has no IPv6 address but loopback/,
     '-t warns of a wildcard listener that can only name itself by loopback (file:line:col)');
unlike($out, qr/0\.0\.0\.0.*wildcard/, '-t: not of one that can name itself');
like($out, qr/is valid/, '-t: the configuration is still valid');
$cf = write_file('wild6a.yaml', "server:\n  listen:\n    - { url: \"udp:[::]:$p3\", advertise: \"[2001:db8::7]\" }\n");
$out = `${\ sipchain()} -t -c $cf 2>&1`;
unlike($out, qr/warning/, '-t: no warning when it has advertise');
$cf = write_file('badadv.yaml', "server:\n  listen:\n    - { url: \"udp:0.0.0.0:$p3\", advertise: \"a b\" }\n");
$out = `${\ sipchain()} -t -c $cf 2>&1`;
like($out, qr/\Q$cf\E:3:\d+: advertise "a b" is not a host or host:port/, 'a bad advertise: refused with file:line:col');
my $long = ('a' x 60) . '.example';
$cf = write_file('longadv.yaml', "server:\n  listen:\n    - { url: \"udp:0.0.0.0:$p3\", advertise: \"$long\" }\n");
$out = `${\ sipchain()} -t -c $cf 2>&1`;
like($out, qr/\Q$cf\E:3:\d+: advertise "\Q$long\E": the host is at most 63 characters/, 'a too long advertise host: refused');
$cf = write_file('badmtu.yaml', "server:\n  listen: [ \"udp:0.0.0.0:$p3\" ]\n  udp_mtu: 100\n");
$out = `${\ sipchain()} -t -c $cf 2>&1`;
like($out, qr/\Q$cf\E:3:12: "udp_mtu" must be 200-65535/, 'udp_mtu below 200: refused with file:line:col');

# --- 5: IPv6 (after -t above: it needed a host without IPv6 addresses) ---------
SKIP: {
    skip('cannot add IPv6 addresses in the namespace', 4)
        unless system("ip addr add fd77:1::1/128 dev lo nodad 2>/dev/null && ip addr add fd77:2::1/128 dev lo nodad 2>/dev/null") == 0;
    require IO::Socket::IP;
    my ($A6, $B6) = ('fd77:1::1', 'fd77:2::1');
    my $p6 = free_port();
    ($pid) = start_server(port => $p6, yaml => <<Y);
server:
  listen: [ "udp:[::]:$p6" ]
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: options
    methods: [ OPTIONS ]
  - module: proxy
    record_route: true
Y
    my $s6 = sub { IO::Socket::IP->new(Proto => 'udp', LocalHost => $_[0], LocalPort => 0, Family => Socket::AF_INET6()) or die "socket6: $@" };
    my $send6 = sub {
        my ($s, $ip, $port, $msg) = @_;
        my (undef, $res) = Socket::getaddrinfo($ip, $port, { socktype => Socket::SOCK_DGRAM(), flags => Socket::AI_NUMERICHOST() });
        $s->send($msg, 0, $res->{addr}) or die "send6: $!";
    };
    my $recv6 = sub {
        my ($s, $cid) = @_;
        my $end = time + 3;
        while (time < $end) {
            last unless IO::Select->new($s)->can_read($end - time);
            my $buf;
            my $from = $s->recv($buf, 70000);
            my ($err, $host, $serv) = Socket::getnameinfo($from, Socket::NI_NUMERICHOST() | Socket::NI_NUMERICSERV());
            return ($buf, "[$host]:$serv") if $buf =~ /^Call-ID: \Q$cid\E\r$/m && $buf !~ m{^SIP/2\.0 100 };
        }
        return (undef, '');
    };
    my $a6 = $s6->($A6);
    my $a6p = $a6->sockport;
    $send6->($a6, $B6, $p6, "OPTIONS sip:[$B6]:$p6 SIP/2.0\r\nVia: SIP/2.0/UDP [$A6]:$a6p;branch=z9hG4bK-o6;rport\r\n"
             . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:x>\r\nCall-ID: o6\r\nCSeq: 1 OPTIONS\r\n"
             . "Content-Length: 0\r\n\r\n");
    my ($r6, $f6) = $recv6->($a6, 'o6');
    is(sip_status($r6) . " $f6", "200 [$B6]:$p6", 'IPv6: the answer leaves from the address the request came to (IPV6_PKTINFO)');
    my $b6 = $s6->($B6);
    my $b6p = $b6->sockport;
    $send6->($a6, $A6, $p6, invite("sip:bob\@[$B6]:$b6p", "UDP [$A6]:$a6p", 'i6'));
    my ($i6, $fi6) = $recv6->($b6, 'i6');
    like(via_top($i6 // ''), qr{^SIP/2\.0/UDP \[\Q$B6\E\]:$p6;branch=}, 'IPv6: the Via names the address towards B');
    is($fi6, "[$B6]:$p6", 'IPv6: and the INVITE leaves from it');
    is(sip_header($i6, 'Record-Route'), "<sip:[$B6]:$p6;transport=udp;lr>, <sip:[$A6]:$p6;transport=udp;lr>",
       'IPv6: Record-Route, one per side');
    stop_server($pid);
}

done_testing();
