# RFC 3263 end to end: a module's request (sc_request) to a host name is
# resolved through a DNS server this test runs on loopback (NAPTR, SRV,
# A) and reaches the peer the records name; a refused TCP target fails
# over to the next SRV target (§4.3), and so does a UDP target where
# nothing listens (ICMP port unreachable), within a second; /etc/hosts
# (dns.hosts_file) comes before DNS; a name that does not exist gets the
# module 503 with why;
# a call placed to a host name (sc_uac_create), the requests in its dialog
# to a Contact that is a host name, and a proxy target that is a host name
# (sc_proxy_request) are resolved the same way.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Select;
use SipTest;
use Socket qw(pack_sockaddr_in inet_aton);
use POSIX qw(_exit);

my $mods = module_dir();
my $dir = tmpdir();

# the peers: UDP and TCP on one port; a closed TCP port for failover
my $peer_port = free_port();
my $pu = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $peer_port) or die $!;
my $pt = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1', LocalPort => $peer_port,
                               Listen => 5, ReuseAddr => 1) or die $!;
my $closed = free_port();

# --- a DNS server on loopback (a child, bounded in time) --------------------
sub name_bytes { join('', map { chr(length $_) . $_ } split /\./, $_[0]) . "\0" }
my %zone = (
    'svc.test' => { 35 => [ [ 10, 'SIP+D2U', '_sip._udp.svc.test' ] ] },
    '_sip._udp.svc.test' => { 33 => [ [ 10, 0, $peer_port, 'box.svc.test' ] ] },
    'box.svc.test' => { 1 => [ '127.0.0.1' ] },
    '_sip._tcp.fo.test' => { 33 => [ [ 10, 0, $closed, 'box.svc.test' ], [ 20, 0, $peer_port, 'box.svc.test' ] ] },
    '_sip._udp.fo.test' => { 33 => [ [ 10, 0, $closed, 'box.svc.test' ], [ 20, 0, $peer_port, 'box.svc.test' ] ] },
);
sub rdata {
    my ($type, $r) = @_;
    return pack('C4', split /\./, $r) if $type == 1;
    return pack('nnn', @$r[0, 1, 2]) . name_bytes($r->[3]) if $type == 33;
    return pack('nn', $r->[0], 10) . "\1S" . chr(length $r->[1]) . $r->[1] . "\0" . name_bytes($r->[2]) if $type == 35;
}
my $dns = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
my $dns_port = $dns->sockport;
my $dns_pid = fork() // die;
if ($dns_pid == 0) {
    my $sel = IO::Select->new($dns);
    my $end = time + 120;
    while (time < $end) {
        next unless $sel->can_read(0.5);
        my $q;
        my $from = $dns->recv($q, 512) or next;
        my ($id) = unpack('n', $q);
        my ($p, @labels) = (12);
        while (my $l = ord substr($q, $p, 1)) { push @labels, substr($q, $p + 1, $l); $p += $l + 1 }
        my $name = lc join '.', @labels;
        my ($type) = unpack('n', substr($q, $p + 1, 2));
        my @rrs = @{ $zone{$name}{$type} // [] };
        my $ans = pack('nnnnnn', $id, @rrs ? 0x8180 : 0x8183, 1, scalar @rrs, 0, 0) . substr($q, 12, $p + 5 - 12);
        for my $r (@rrs) {
            my $rd = rdata($type, $r);
            $ans .= name_bytes($name) . pack('nnNn', $type, 1, 60, length $rd) . $rd;
        }
        $dns->send($ans, 0, $from);
    }
    _exit(0);
}

my $hosts = write_file('hosts', "127.0.0.1 fromhosts.test\n");
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  log: { level: debug }
  timers: { t1: 50, t2: 400, t4: 500 }
  dns: { servers: [ "127.0.0.1:$dns_port" ], hosts_file: "$hosts", timeout: 300, attempts: 2 }
modules_path: $mods
chain:
  - module: t_uac
    methods: [ MESSAGE ]
  - module: t_dialog
    methods: [ OPTIONS ]
  - module: t_proxy
    methods: [ INVITE ]
    targets: [ "sip:frank\@svc.test" ]
Y

my $c = udp_client();
my $me = $c->sockport;
sub trigger {
    my ($target, $method, %x) = @_;
    $method //= 'MESSAGE';
    my $cid = int(rand(1e9)) . '@dns';
    my $extra = join '', map { "$_: $x{$_}\r\n" } sort keys %x;
    my $m = "$method sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-" . int(rand(1e9))
          . ";rport\r\nMax-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
          . "Call-ID: $cid\r\nCSeq: 1 $method\r\nX-Target: $target\r\n$extra"
          . "Content-Length: 0\r\n\r\n";
    $c->send($m, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die $!;
    return $cid;
}
sub answer_of {
    my ($cid, $secs) = @_;
    my $end = time + ($secs // 5);
    while (time < $end) {
        my $r = recv_msg($c, $end - time) // last;
        return $1 if $r =~ /^Call-ID: \Q$cid\E\r$/m && $r =~ m{^SIP/2\.0 ([2-6]\d\d [^\r]*)};
    }
    return 'none';
}
sub reply_200 {
    my ($req) = @_;
    my $out = "SIP/2.0 200 OK\r\n";
    $out .= "$1\r\n" while $req =~ /^((?:Via|From|To|Call-ID|CSeq): [^\r]*)\r$/mg;
    return $out . "Content-Length: 0\r\n\r\n";
}

# 1. NAPTR -> SRV -> A, over UDP
my $cid = trigger('sip:alice@svc.test');
my $got = recv_msg($pu, 3);
like($got // '', qr/^OPTIONS sip:alice\@svc\.test SIP\/2\.0\r\n/, 'the request reached the peer the records name (NAPTR, SRV, A)');
like($got // '', qr{^Via: SIP/2\.0/UDP 127\.0\.0\.1:$port;}m, 'over UDP as the NAPTR said');
$pu->send(reply_200($got), 0, $pu->peername) if $got;
is(answer_of($cid), '200 got 200 OK after 0 provisional', 'and its answer came back to the module');

# 2. SRV with a refused first target: the second one (§4.3)
my $t0 = time;
$cid = trigger('sip:bob@fo.test;transport=tcp');
my $conn = IO::Select->new($pt)->can_read(3) ? $pt->accept : undef;
ok($conn, 'after the refused first SRV target, the second one got a connection');
my $req = '';
if ($conn) {
    my $sel = IO::Select->new($conn);
    while ($req !~ /\r\n\r\n/ && $sel->can_read(2)) { my $b; last unless sysread($conn, $b, 4096); $req .= $b }
    like($req, qr{^OPTIONS sip:bob\@fo\.test;transport=tcp SIP/2\.0\r\n.*^Via: SIP/2\.0/TCP }ms, 'the request, over TCP');
    print $conn reply_200($req);
}
is(answer_of($cid), '200 got 200 OK after 0 provisional', 'answered through the second target');
cmp_ok(time - $t0, '<', 2, 'without waiting for a timeout (the refusal is a transport error)');

# 2b. the same over UDP: nothing listens on the first target's port; its
# ICMP port unreachable is the transport error (IP_RECVERR), not timer F
$t0 = time;
$cid = trigger('sip:ed@fo.test;transport=udp');
$got = recv_msg($pu, 3);
my $took = time - $t0;
like($got // '', qr/^OPTIONS sip:ed\@fo\.test;transport=udp SIP\/2\.0\r\n/, 'after the dead first UDP target, the second one got the request');
cmp_ok($took, '<', 1, sprintf('within a second (%.3f s): the ICMP port unreachable failed it over', $took));
$pu->send(reply_200($got), 0, $pu->peername) if $got;
is(answer_of($cid), '200 got 200 OK after 0 provisional', 'answered through the second target');

# 3. the hosts file before DNS
$cid = trigger("sip:carol\@fromhosts.test:$peer_port");
$got = recv_msg($pu, 3);
like($got // '', qr/^OPTIONS sip:carol\@fromhosts\.test:$peer_port /, 'a name from hosts_file, no DNS');
$pu->send(reply_200($got), 0, $pu->peername) if $got;
is(answer_of($cid), '200 got 200 OK after 0 provisional', 'answered');

# 4. a name that does not exist
$cid = trigger('sip:dave@nowhere.test:5060');
is(answer_of($cid), '200 got 503 Service Unavailable (DNS: no such domain nowhere.test) after 0 provisional',
   'a name that does not exist: 503 naming why');

# 5. a call placed to a host name (sc_uac_create): the INVITE, our ACK
# and BYE all reach the peer the records name
$cid = trigger('sip:erin@svc.test', 'OPTIONS', 'X-Mode' => 'uac', 'X-Hangup-After' => 200);
is(answer_of($cid), '200 call placed', 'the module places a call to a host name');
my $inv;
for (1 .. 10) { my $m = recv_msg($pu, 0.5) // next; if ($m =~ /^INVITE /) { $inv = $m; last } }
like($inv // '', qr/^INVITE sip:erin\@svc\.test SIP\/2\.0\r\n/, 'the INVITE reached the resolved peer');
if ($inv) {
    my $ok = reply_200($inv);
    # its Contact is a host name too: the dialog resolves its next hop
    $ok =~ s/^(To: [^\r]*)\r\n/$1;tag=peer1\r\nContact: <sip:erin\@box.svc.test:$peer_port>\r\n/m;
    $pu->send($ok, 0, $pu->peername);
    my ($ack, $bye);
    for (1 .. 20) {
        my $m = recv_msg($pu, 0.3) // next;
        $ack //= $m if $m =~ /^ACK /;
        if ($m =~ /^BYE /) { $bye = $m; last }
    }
    like($ack // '', qr/^ACK sip:erin\@box\.svc\.test:$peer_port SIP/, 'our ACK for its 200, to its Contact (a host name, resolved)');
    like($bye // '', qr/^BYE sip:erin\@box\.svc\.test:$peer_port SIP/, 'and our BYE, in the dialog, the same way');
    $pu->send(reply_200($bye), 0, $pu->peername) if $bye;
}

# a 302 to a name that leads nowhere: the call fails 503 (and its CDR
# stops) once DNS says so
$cid = trigger("sip:gina\@127.0.0.1:$peer_port", 'OPTIONS', 'X-Mode' => 'uac', 'X-Follow' => 'yes');
is(answer_of($cid), '200 call placed', 'a call that will be redirected');
my $inv2;
for (1 .. 10) { my $m = recv_msg($pu, 0.5) // next; if ($m =~ /^INVITE sip:gina/) { $inv2 = $m; last } }
if ($inv2) {
    (my $moved = reply_200($inv2)) =~ s/^SIP\/2\.0 200 OK/SIP\/2.0 302 Moved Temporarily/;
    $moved =~ s/^(To: [^\r]*)\r\n/$1;tag=peer3\r\nContact: <sip:gina\@nowhere.test>\r\n/m;
    $pu->send($moved, 0, $pu->peername);
}
like(wait_log($log, qr/uac failed 503/, 5), qr/t_dialog: uac failed 503/, 'redirected to a name that does not exist: 503 to the module');
like(wait_log($log, qr/reason=call-rejected status=503/), qr/cdr:stop source=application role=- reason=call-rejected status=503 call-id=\S+/,
     'and its cdr:stop, with the call\'s Call-ID');

# 6. a proxy target that is a host name (sc_proxy_request)
$cid = int(rand(1e9)) . '@dnsproxy';
$c->send("INVITE sip:frank\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-p" . int(rand(1e9))
         . ";rport\r\nMax-Forwards: 70\r\nTo: <sip:frank\@svc.test>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
         . "Call-ID: $cid\r\nCSeq: 1 INVITE\r\nContact: <sip:t\@127.0.0.1:$me>\r\nContent-Length: 0\r\n\r\n",
         0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
my $fwd;
for (1 .. 10) { my $m = recv_msg($pu, 0.5) // next; if ($m =~ /^INVITE /) { $fwd = $m; last } }
like($fwd // '', qr/^INVITE sip:frank\@svc\.test SIP\/2\.0\r\n/, 'the proxy resolved its target and forwarded the INVITE');
if ($fwd) {
    my $ok = reply_200($fwd);
    $ok =~ s/^(To: [^\r]*)\r\n/$1;tag=peer2\r\nContact: <sip:frank\@127.0.0.1:$peer_port>\r\n/m;
    $pu->send($ok, 0, $pu->peername);
}
is(answer_of($cid), '200 OK', 'and its 200 came back up');

is(stop_server($pid), 0, 'stopped');
kill 'TERM', $dns_pid;
waitpid($dns_pid, 0);
done_testing();
