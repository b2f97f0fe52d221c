# RFC 3263 against a real DNS server (dnsmasq), in a network namespace of
# its own: the proxy module forwards to Request-URIs in a test domain
# whose NAPTR, SRV and A records dnsmasq serves.  Asserts: SRV priority
# order, and weight order (a 9:1 draw over 80 requests); failover from a
# dead UDP target (nothing listens: ICMP port unreachable), and from one
# whose host does not answer ARP (ICMP host unreachable), to the next SRV
# target within one second, not after timer B; answers cached for
# their TTL (dnsmasq's query log shows no new NAPTR/SRV/A query for a
# second call, nor for a name that does not exist) and still used while
# the DNS server is down; the hosts file before DNS; and with the DNS
# server stopped (silent) the caller gets 408 naming the DNS timeout
# within the configured timeout, with it gone (port unreachable) 503
# naming that, at once.
#
# The test runs itself again inside a namespace it creates (ip netns,
# root needed) and removes it however the inner run ends; processes it
# started are stopped by pid.
use strict;
use warnings;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my $DNSMASQ = (grep { -x } '/usr/sbin/dnsmasq', map { "$_/dnsmasq" } split /:/, $ENV{PATH})[0];

# --- outside: the namespace, then this test again inside it ----------------
use lib 't/lib';
use Netns;
if (!$ENV{SC_DNSREAL_NS} && !$DNSMASQ) {
    print "1..0 # SKIP dnsmasq not installed (scripts/install-deps.sh)\n";
    exit 0;
}
Netns::reexec(env => 'SC_DNSREAL_NS', prefix => 'sc-dns', timeout => 150,
              addrs => [qw(10.53.0.1 10.53.0.2 10.53.0.3 10.53.1.1 10.53.1.2 10.53.1.3)],
              setup => sub {
    my $ns = shift;
    # a link where 10.54.0.9 never answers ARP: its neighbour entry fails
    # after one 200 ms solicitation and the kernel sends ICMP host
    # unreachable (optional: the host-unreachable case skips without it)
    $ENV{SC_DNSREAL_VETH} = system("ip -n $ns link add vA type veth peer name vB 2>/dev/null"
                                   . " && ip -n $ns addr add 10.54.0.1/24 dev vA && ip -n $ns link set vA up"
                                   . " && ip -n $ns link set vB up && ip netns exec $ns sysctl -q -w"
                                   . " net.ipv4.neigh.vA.mcast_solicit=1 net.ipv4.neigh.vA.retrans_time_ms=200") == 0 ? 1 : 0;
    return 1;
});

# --- inside the namespace ----------------------------------------------------
require Test::More;
Test::More->import();
require SipTest;
SipTest->import();
use IO::Socket::INET;
use IO::Select;
use Socket qw(pack_sockaddr_in inet_aton);

my $dir = tmpdir();
my $dnslog = "$dir/dnsmasq.log";
my $dns_pid;
END {
    if ($dns_pid) { kill 'CONT', $dns_pid; kill 'TERM', $dns_pid; waitpid($dns_pid, 0) }
}

# the zone: sip.test, and .invalid, answered by dnsmasq alone (no
# upstream: names it does not know are NXDOMAIN); TTL 60 s everywhere
my @zone = (
    # priority: box2 (10) before box3 (20)
    '--naptr-record=prio.sip.test,10,10,S,SIP+D2U,,_sip._udp.prio.sip.test',
    '--srv-host=_sip._udp.prio.sip.test,box3.sip.test,5060,20,0',
    '--srv-host=_sip._udp.prio.sip.test,box2.sip.test,5060,10,0',
    # weight: one priority, box3 weighs 9, box2 1
    '--naptr-record=weight.sip.test,10,10,S,SIP+D2U,,_sip._udp.weight.sip.test',
    '--srv-host=_sip._udp.weight.sip.test,box2.sip.test,5060,10,1',
    '--srv-host=_sip._udp.weight.sip.test,box3.sip.test,5060,10,9',
    # failover: the first target is dead (an address where nothing listens)
    '--naptr-record=fo.sip.test,10,10,S,SIP+D2U,,_sip._udp.fo.sip.test',
    '--srv-host=_sip._udp.fo.sip.test,dead.sip.test,5060,10,0',
    '--srv-host=_sip._udp.fo.sip.test,box2.sip.test,5060,20,0',
    # the cache
    '--naptr-record=cache.sip.test,10,10,S,SIP+D2U,,_sip._udp.cache.sip.test',
    '--srv-host=_sip._udp.cache.sip.test,box3.sip.test,5060,10,0',
    # in the hosts file too (there: box3)
    # failover: the first target's host never answers ARP
    '--naptr-record=hu.sip.test,10,10,S,SIP+D2U,,_sip._udp.hu.sip.test',
    '--srv-host=_sip._udp.hu.sip.test,lost.sip.test,5060,10,0',
    '--srv-host=_sip._udp.hu.sip.test,box3.sip.test,5060,20,0',
    '--host-record=lost.sip.test,10.54.0.9',
    '--host-record=fromhosts.sip.test,10.53.1.2',
    '--host-record=dead.sip.test,10.53.1.1',
    '--host-record=box2.sip.test,10.53.1.2',
    '--host-record=box3.sip.test,10.53.1.3',
);
sub start_dns {
    unlink $dnslog;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>>', "$dir/dnsmasq.err";
        exec($DNSMASQ, '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts',
             '--user=root', "--pid-file=$dir/dnsmasq.pid", '--port=53', '--listen-address=10.53.0.1', '--bind-interfaces',
             '--local=/sip.test/', '--local=/invalid/', '--local-ttl=60', '--log-queries',
             "--log-facility=$dnslog", @zone) or _exit(127);
    }
    # ready once it answers
    my $s = IO::Socket::INET->new(Proto => 'udp', PeerAddr => '10.53.0.1', PeerPort => 53) or die $!;
    my $q = pack('nnnnnn', 7, 0x0100, 1, 0, 0, 0) . "\3box\3sip\4test\0" . pack('nn', 1, 1);
    for (1 .. 50) {
        $s->send($q);
        my $a;
        $s->recv($a, 512) if IO::Select->new($s)->can_read(0.1);
        return $pid if defined $a && length $a > 12;
        sleep 0.1;              # refused: not listening yet
    }
    die "dnsmasq did not start: " . (do { local (@ARGV, $/) = "$dir/dnsmasq.err"; <> } // '');
}
$dns_pid = start_dns();
pass('dnsmasq serves the test zone inside the namespace');

sub queries {
    my ($re) = @_;
    sleep 0.2;              # its log line may trail the answer
    my $t = do { local (@ARGV, $/) = $dnslog; <> } // '';
    my @n = $t =~ /$re/g;
    return scalar @n;
}

# --- sipchain: the proxy module, the Request-URI as next hop ------------------
my $hosts = write_file('hosts', "10.53.1.3 fromhosts.sip.test\n");
my ($pid, undef, $log) = start_server(port => 5060, yaml => <<Y);
server:
  listen: [ "udp:10.53.0.2:5060" ]
  log: { level: debug }
  dns: { servers: [ "10.53.0.1" ], hosts_file: "$hosts", timeout: 500, attempts: 2 }
modules_path: @{[ module_dir() ]}
chain:
  - module: proxy
Y

my $c = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '10.53.0.3', LocalPort => 5060) or die $!;
my %box = map { $_ => IO::Socket::INET->new(Proto => 'udp', LocalAddr => "10.53.1.$_", LocalPort => 5060) // die $! } 2, 3;
my $proxy = pack_sockaddr_in(5060, inet_aton('10.53.0.2'));

my $n = 0;
sub request {
    my ($method, $ruri) = @_;
    my $cid = 'dnsreal-' . ++$n . '-' . int(rand(1e9));
    $c->send("$method $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 10.53.0.3:5060;branch=z9hG4bK-$cid;rport\r\n"
             . "Max-Forwards: 70\r\nTo: <$ruri>\r\nFrom: <sip:caller\@10.53.0.3>;tag=c$n\r\n"
             . "Call-ID: $cid\r\nCSeq: 1 $method\r\nContact: <sip:caller\@10.53.0.3:5060>\r\n"
             . "Content-Length: 0\r\n\r\n", 0, $proxy) or die $!;
    return $cid;
}
# The final answer the caller got for cid within secs: "408 Reason", or 'none'.
sub final_of {
    my ($cid, $secs) = @_;
    my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) {
        my $r = recv_msg($c, $l) // last;
        next unless $r =~ /^Call-ID: \Q$cid\E\r$/m && $r =~ m{^SIP/2\.0 ([2-6]\d\d [^\r]*)\r};
        my $final = $1;
        if ($r =~ /^CSeq: \d+ INVITE/m && $final !~ /^2/) {       # our ACK
            my ($to) = $r =~ /^(To: [^\r]*)\r$/m;
            (my $ack = "ACK sip:x SIP/2.0\r\n") =~ s/sip:x/($r =~ m{^To: <([^>]*)>}m)[0]/e;
            $ack .= "Via: SIP/2.0/UDP 10.53.0.3:5060;branch=z9hG4bK-$cid;rport\r\nMax-Forwards: 70\r\n$to\r\n"
                  . "From: <sip:caller\@10.53.0.3>;tag=x\r\nCall-ID: $cid\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
            $c->send($ack, 0, $proxy);
        }
        return $final;
    }
    return 'none';
}
# Which box got the request for cid first, within secs, and the request.
sub arrival {
    my ($cid, $secs) = @_;
    my $sel = IO::Select->new(values %box);
    my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) {
        for my $s ($sel->can_read($l)) {
            my $m;
            $s->recv($m, 70000) or next;
            next unless $m =~ /^Call-ID: \Q$cid\E\r$/m && $m !~ /^(?:ACK|SIP)/;
            my ($which) = grep { $box{$_} == $s } keys %box;
            return ($which, $m, $s->peername);
        }
    }
    return ('none');
}
sub reply {
    my ($which, $req, $to, $status) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $req =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my ($t) = $req =~ /^(To: [^\r]*)\r$/m;
    $box{$which}->send("$out$t;tag=box$which\r\nContent-Length: 0\r\n\r\n", 0, $to);
}
# A request through the proxy, answered by whichever box it reaches.
sub call {
    my ($method, $ruri, $status) = @_;
    my $cid = request($method, $ruri);
    my ($which, $req, $to) = arrival($cid);
    reply($which, $req, $to, $status // '200 OK') if $req;
    return ($which, final_of($cid));
}

# 1. priority: the lowest first, every time
my @got = map { (call('OPTIONS', 'sip:p@prio.sip.test'))[0] } 1 .. 5;
is("@got", '2 2 2 2 2', 'SRV priority: the priority-10 target (box2) gets every request, not the priority-20 one');

# 2. weight: 9 to 1 within one priority (RFC 2782's draw, per request;
# 80 requests: the weight-1 target is missed by chance once in 5000 runs)
my %count = (2 => 0, 3 => 0, none => 0);
$count{ (call('OPTIONS', 'sip:w@weight.sip.test'))[0] }++ for 1 .. 80;
cmp_ok($count{3}, '>=', 56, "SRV weight: the weight-9 target got most requests ($count{3} of 80)");
cmp_ok($count{2}, '>=', 1, "and the weight-1 target some ($count{2}) (a draw, not a fixed order)");
is($count{none}, 0, 'every request arrived');

# 3. failover: the first SRV target has nothing listening
my $t0 = time;
my $cid = request('INVITE', 'sip:f@fo.sip.test');
my ($which, $req, $to) = arrival($cid, 5);
my $took = time - $t0;
is($which, 2, 'the INVITE to a dead first target reached the second SRV target');
cmp_ok($took, '<', 1, sprintf('within a second (%.3f s): the ICMP port unreachable is a transport error, not timer B', $took));
reply($which, $req, $to, '486 Busy Here') if $req;
is(final_of($cid), '486 Busy Here', "the second target's answer reached the caller");
like(wait_log($log, qr/port unreachable/), qr/udp:10\.53\.1\.1:5060: ICMP port unreachable from 10\.53\.1\.1: 1 request\(s\) failed over/,
     'the log says which address was unreachable and what failed over');

# 3b. the same when the first target's host is unreachable (no ARP answer:
# ICMP host unreachable from our own stack after 200 ms)
SKIP: {
    skip('no veth link in the namespace', 4) unless $ENV{SC_DNSREAL_VETH};
    $t0 = time;
    $cid = request('INVITE', 'sip:u@hu.sip.test');
    ($which, $req, $to) = arrival($cid, 5);
    $took = time - $t0;
    is($which, 3, 'the INVITE to an unreachable host reached the next SRV target');
    cmp_ok($took, '<', 1, sprintf('within a second (%.3f s): ICMP host unreachable', $took));
    reply($which, $req, $to, '486 Busy Here') if $req;
    is(final_of($cid), '486 Busy Here', "its answer reached the caller");
    like(wait_log($log, qr/host unreachable/), qr/udp:10\.54\.0\.9:5060: ICMP host unreachable from [\d.]+: 1 request\(s\) failed over/,
         'the log says the host was unreachable');
}

# 4. the cache: a second call asks nothing within the TTL
my @r1 = call('OPTIONS', 'sip:c@cache.sip.test');
is("@r1", '3 200 OK', 'a first call to cache.sip.test');
my %before = (naptr => queries(qr/query\[NAPTR\] cache\.sip\.test /), srv => queries(qr/query\[SRV\] _sip\._udp\.cache\.sip\.test /),
              a => queries(qr/query\[A\] box3\.sip\.test /));
is($before{naptr}, 1, 'it asked NAPTR once');
my @r2 = call('OPTIONS', 'sip:c2@cache.sip.test');
is("@r2", '3 200 OK', 'a second call to the same domain');
is(queries(qr/query\[NAPTR\] cache\.sip\.test /), $before{naptr}, 'no new NAPTR query (cached for its TTL)');
is(queries(qr/query\[SRV\] _sip\._udp\.cache\.sip\.test /), $before{srv}, 'no new SRV query');
is(queries(qr/query\[A\] box3\.sip\.test /), $before{a}, 'no new A query');

# negative answers too
my $nx = final_of(request('OPTIONS', 'sip:x@nope.invalid'));
is($nx, '503 Service Unavailable (DNS: no such domain nope.invalid)', 'a name that does not exist: 503 naming it');
my $asked = queries(qr/query\[\w+\] \S*nope\.invalid /);
cmp_ok($asked, '>=', 1, "dnsmasq was asked ($asked queries)");
is(final_of(request('OPTIONS', 'sip:y@nope.invalid')), $nx, 'again: the same answer');
is(queries(qr/query\[\w+\] \S*nope\.invalid /), $asked, 'without a new query (the negative answer is cached)');

# 5. the hosts file before DNS: its address, no query at all
my @h = call('OPTIONS', 'sip:h@fromhosts.sip.test');
is("@h", '3 200 OK', 'a name in the hosts file goes to the address there (box3), not the one DNS has');
is(queries(qr/fromhosts\.sip\.test/), 0, 'and DNS was not asked about it');

# 6. the DNS server stopped: it never answers
kill 'STOP', $dns_pid;
$t0 = time;
my $slow = final_of(request('OPTIONS', 'sip:s@slow.sip.test'), 5);
$took = time - $t0;
like($slow, qr/^408 Request Timeout \(DNS timeout: no answer from the name servers within 1000 ms \(NAPTR slow\.sip\.test\)\)$/,
     'DNS silent: 408 naming the DNS timeout');
cmp_ok($took, '<', 1.5, sprintf('within the configured timeout x attempts (1 s; took %.2f s)', $took));
cmp_ok($took, '>=', 0.9, 'after it, not before');
my @cached = call('OPTIONS', 'sip:c3@cache.sip.test');
is("@cached", '3 200 OK', 'a cached domain still works meanwhile');
kill 'CONT', $dns_pid;

# 7. the DNS server gone: port unreachable, at once
kill 'TERM', $dns_pid;
waitpid($dns_pid, 0);
undef $dns_pid;
$t0 = time;
my $gone = final_of(request('OPTIONS', 'sip:g@gone.sip.test'), 5);
$took = time - $t0;
like($gone, qr/^503 Service Unavailable \(DNS: name server unreachable \(10\.53\.0\.1:53: Connection refused\) \(NAPTR gone\.sip\.test\)\)$/,
     'DNS gone: 503 naming the unreachable name server');
cmp_ok($took, '<', 0.5, sprintf('at once (%.3f s), not after the timeout', $took));

is(stop_server($pid), 0, 'sipchain stopped cleanly');
done_testing();
