# Garbage counts against its source, and a blocked source is dropped in
# the kernel (issue 19): a source sending datagrams that do not parse
# over the guard's rate is blocked (reason "malformed"), after which its
# datagrams no longer reach the process (the parse-error counter stays
# flat while it goes on), another source is still served, and after the
# block its valid requests are answered again; a lift through the
# management API (sipchainctl blocks lift) lifts the kernel's drop too;
# a reload keeps the block (the guard's tables are kept, the kernel's
# set is the server's).  Every flood is bounded (at most 100 datagrams).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use HTTP::Tiny;
use SipTest;

my $build = $ENV{SC_BUILD} // 'objs';
my $ctl = "$build/sipchainctl";
my $mods = module_dir();
my $port = free_port();
my $aport = free_port();
my $mport = free_port();
my $token = 'kdrop-token-0123456789abcdef';
my $yaml = <<Y;
server:
  listen: [ "udp:127.0.0.1:$port" ]
  admin: { listen: "127.0.0.1:$aport", token: "$token" }
  metrics: { listen: "127.0.0.1:$mport" }
  log: { level: info }
modules_path: $mods
chain:
  - module: guard
    rate: 10
    burst: 10
    block_after: 10
    block_time: 3
  - module: options
Y
my ($pid, undef, $log) = start_server(port => $port, yaml => $yaml);
my $http = HTTP::Tiny->new(timeout => 5);
sub metrics {
    my %m;
    for (split /\n/, $http->get("http://127.0.0.1:$mport/metrics")->{content} // '') {
        $m{$1} = $2 if !/^#/ && /^(\S+(?:\{.*\})?) (\S+)$/;
    }
    return \%m;
}
sub parse_errors {
    my $m = metrics();
    my $n = 0;
    $n += $m->{$_} for grep { /^sipchain_sip_parse_errors_total/ } keys %$m;
    return $n;
}
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }
sub count_log { my ($re) = @_; my @m = slurp($log) =~ /$re/g; return scalar @m }

my %sock;
sub from {
    my ($ip) = @_;
    return $sock{$ip} //= IO::Socket::INET->new(Proto => 'udp', LocalAddr => $ip, LocalPort => 0)
        // die "bind $ip: $!";
}
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
sub garbage { my ($ip, $n) = @_; from($ip)->send("garbage $_ \x01\x02\r\n\r\n", 0, $to) for 1 .. $n }
my $n = 0;
sub options {
    my ($ip, $wait) = @_;
    my $s = from($ip);
    $n++;
    my $req = "OPTIONS sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP $ip:" . $s->sockport . ";branch=z9hG4bK-k$n\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:x\@127.0.0.1>\r\nFrom: <sip:y\@$ip>;tag=k$n\r\n"
            . "Call-ID: kdrop-$n\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    return sip_status(send_recv($s, $port, $req, $wait // 2));
}
# a source's OPTIONS answered again within secs (the kernel's filter is
# re-attached at most every 100 ms)
sub answered_within {
    my ($ip, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) {
        return 1 if options($ip, 0.3) eq '200';
    }
    return 0;
}
my $bad = '127.0.0.40';
my $good = '127.0.0.41';

is(options($bad), '200', 'before: the source is served');

# 1. garbage over the rate: blocked, "malformed"
garbage($bad, 100);
like(wait_log($log, qr/blocked source 127\.0\.0\.40 /), qr/blocked source 127\.0\.0\.40 for 3 s: over the rate with messages that do not parse/,
     'a source of garbage over the rate is blocked, and it is logged');
is(metrics()->{'sipchain_blocked_total{reason="malformed",link="1"}'}, 1, 'sipchain_blocked_total{reason="malformed"} 1');
is(metrics()->{sipchain_kernel_refused_sources}, 1, 'sipchain_kernel_refused_sources 1');

# 2. dropped in the kernel: its garbage is not even parsed any more
sleep 0.3;                      # what was queued before the filter is read
my $before = parse_errors();
# (a slow server may have all 100 queued before the filter is attached)
ok($before >= 19 && $before <= 100, "parsed before the block: $before of 100");
garbage($bad, 100);
sleep 0.5;
is(parse_errors(), $before, 'while blocked its garbage never reaches the process (parse errors flat)');
is(options($bad, 0.5), 'none', 'nor its valid requests');
is(options($good), '200', 'another source is served');

# 3. the block ends: answered again
like(wait_log($log, qr/unblocked source 127\.0\.0\.40 /, 6), qr/unblocked source 127\.0\.0\.40 \(malformed block\): time over/,
     'unblocked after block_time');
ok(answered_within($bad, 2), 'and its requests are answered again');
is(metrics()->{sipchain_kernel_refused_sources}, 0, 'sipchain_kernel_refused_sources 0');

# 4. a lift through the management API lifts the kernel's drop
SKIP: {
    skip "$ctl not built", 3 unless -x $ctl;
    garbage($bad, 100);
    like(wait_log($log, qr/blocked source 127\.0\.0\.40 for 3 s.*\n(?:.*\n)*.*blocked source 127\.0\.0\.40 for 3 s/), qr/./, 'blocked again');
    is(options($bad, 0.5), 'none', 'and dropped');
    my $out = `'$ctl' -s 127.0.0.1:$aport -t $token blocks lift $bad 2>&1`;
    is($? >> 8, 0, "sipchainctl blocks lift $bad: exit 0") or diag $out;
    ok(answered_within($bad, 2), 'answered at once after the lift');
}

# 5. a reload keeps the block, in the guard and in the kernel
garbage($bad, 100);
my $blocks = () = slurp($log) =~ /(?<!un)blocked source 127\.0\.0\.40 /g;
ok($blocks >= 2, "blocked once more ($blocks blocks so far)");
sleep 0.3;
kill 'HUP', $pid;
like(wait_log($log, qr/reloaded /, 8), qr/reloaded /, 'SIGHUP: reloaded');
sleep 0.2;
$before = parse_errors();
garbage($bad, 100);
sleep 0.5;
is(parse_errors(), $before, 'after the reload its garbage is still dropped in the kernel');
is(options($bad, 0.5), 'none', 'and its requests refused');
is(metrics()->{'sipchain_blocked_sources{link="1"}'}, 1, 'sipchain_blocked_sources still 1');
is(count_log(qr/unblocked: the configuration/), 0, 'no block ended with the reload');
is(options($good), '200', 'another source is served');
like(wait_log($log, qr/unblocked source 127\.0\.0\.40 \(malformed block\): time over(?:.*\n)*.*unblocked source 127\.0\.0\.40 \(malformed block\): time over/, 6),
     qr/./, 'the kept block ends at its time');
ok(answered_within($bad, 2), 'and the source is answered again');

is(stop_server($pid), 0, 'clean stop');
done_testing();
