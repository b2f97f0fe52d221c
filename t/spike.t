# Memory taken during a spike goes back to the system afterwards: 3 000
# requests held at once (a module that answers late), then answered and
# their transactions over; the server's resident size falls back near
# where it was.  Not under valgrind or a sanitizer (their allocators are
# not the one measured).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Socket qw(pack_sockaddr_in inet_aton SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(time sleep);
use SipTest;

plan skip_all => 'resident size is the allocator\'s own under valgrind or a sanitizer'
    if $ENV{SIPCHAIN_WRAPPER} || ($ENV{SC_BUILD} // '') =~ /san/;
my $mods = module_dir();
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_async
    delay_ms: 2500
  - module: options
Y
sub rss_kib {
    open my $f, '<', "/proc/$pid/status" or return 0;
    while (<$f>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    return 0;
}
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $c = udp_client();
my $me = $c->sockport;
# 3 000 answers come back in one burst when the module lets go: a busy
# machine may not read them as fast, and the default 208 KiB buffer would
# drop most of them (the server's answers, not its memory, under test)
setsockopt($c, SOL_SOCKET, 33, 16 << 20)        # SO_RCVBUFFORCE (root)
    or setsockopt($c, SOL_SOCKET, SO_RCVBUF, 16 << 20);
sleep 0.3;
my $idle = rss_kib();
my $n = 3000;
for my $k (1 .. $n) {
    $c->send("OPTIONS sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-sp$k;rport\r\n"
           . "Max-Forwards: 70\r\nTo: <sip:127.0.0.1:$port>\r\nFrom: <sip:a\@example.com>;tag=s$k\r\n"
           . "Call-ID: spike-$k\r\nCSeq: 1 OPTIONS\r\nX-Pad: " . ('x' x 600) . "\r\nContent-Length: 0\r\n\r\n", 0, $srv);
    sleep 0.005 if $k % 50 == 0;
}
sleep 0.5;
my $peak = rss_kib();
my $answered = 0;
my $end = time + 10;
while ($answered < $n && time < $end) { my $r = recv_msg($c, 4) // last; $answered++ if sip_status($r) eq '200' }
ok($answered > $n * 0.8, "the held requests were answered ($answered)");
ok($peak - $idle > 8000, "the spike took memory ($idle -> $peak KiB)");
# timer J (64*T1 = 6.4 s) ends their transactions; then it goes back
my $after = $peak;
$end = time + 15;
while (time < $end) { $after = rss_kib(); last if $after - $idle < ($peak - $idle) / 3; sleep 0.5 }
ok($after - $idle < ($peak - $idle) / 3, "most of it went back to the system ($peak -> $after KiB)");
is(stop_server($pid), 0, 'clean stop');
done_testing();
