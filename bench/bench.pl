#!/usr/bin/perl
# bench.pl — sipchain and Kamailio side by side on loopback, the same sipp
# scenarios against each, one after the other in one run (BENCHMARKS.md).
#
#   bench/bench.pl [--quick] [--servers sipchain,kamailio] [--scenarios 'OPTIONS,proxied call,memory']
#                  [--secs 10] [--out FILE] [--keep]
#
# For each scenario and server: the highest rate sustained for --secs
# seconds with no failed call, no retransmission and sipp keeping the
# pace (rates raised by half
# until one fails, then one step of bisection), the server's CPU per
# operation at that rate (utime+stime of its processes from /proc, before
# and after, over the operations done), response times p50/p99 at 50% and
# 90% of it; then memory (PSS of the server's processes) after 10 000 and
# 100 000 registrations (0.5 s and 33 s after the last: timer J over)
# and with 10 000 calls up.  Every sipp run is
# bounded in calls and time and stays on 127.0.0.1.  --quick: a few
# hundred operations at a low rate, no search (the test suite runs it so
# the script cannot rot).  Installs sip-tester and kamailio (apt) when
# run as root and they are missing.
use strict;
use warnings;
use Cwd qw(abs_path getcwd);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Getopt::Long;
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use POSIX qw(WNOHANG floor);
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);

my %o = (secs => 10, servers => 'sipchain,kamailio');
GetOptions(\%o, 'quick', 'secs=i', 'servers=s', 'scenarios=s', 'out=s', 'keep') or die "usage: see the head of $0\n";
my $top = abs_path(($0 =~ m{(.*)/} ? $1 : '.') . '/..');
chdir $top or die;
my $sipchain = abs_path($ENV{SIPCHAIN} // 'objs/sipchain');
my $modules = abs_path(($ENV{SC_BUILD} // 'objs') . '/modules');
my $work = tempdir('sipchain-bench-XXXX', TMPDIR => 1, CLEANUP => !$o{keep});
my $hz = `getconf CLK_TCK` + 0 || 100;
my @servers = split /,/, $o{servers};
my $N = $o{quick} ? 300 : 100_000;        # users
my $secs = $o{quick} ? 1 : $o{secs};
my $first = $o{quick} ? 100 : 10_000;     # registrations before the first memory reading
my $up = $o{quick} ? 100 : 10_000;        # calls up for the memory reading
my $settle = $o{quick} ? 1 : 33;          # seconds after the last registration: timer J over

sub say_ { print STDERR "bench: @_\n" }
sub have { my ($p) = @_; return `dpkg-query -W -f='\${Status}' $p 2>/dev/null` =~ /install ok installed/ }
# --- packages -----------------------------------------------------------
my @need = grep { !have($_) } ('sip-tester', (grep { $_ eq 'kamailio' } @servers) ? 'kamailio' : ());
if (@need) {
    die "bench: missing @need (run as root to install them)\n" if $> != 0;
    system("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends @need >/dev/null") == 0
        or die "bench: apt-get install @need failed\n";
}
-x $sipchain or die "bench: $sipchain not built (./configure && make)\n";
my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
$sipp or die "bench: sipp not found\n";

# --- users: sipp injection files and sipchain's users file ------------------
sub write_file { my ($f, $t) = @_; open my $fh, '>', $f or die "$f: $!"; print $fh $t; close $fh; return $f }
{
    open my $csv, '>', "$work/users.csv" or die;
    open my $a10, '>', "$work/users-first.csv" or die;
    open my $a90, '>', "$work/users-rest.csv" or die;
    open my $yml, '>', "$work/users.yaml" or die;
    print $_ "SEQUENTIAL\n" for $csv, $a10, $a90;
    for my $i (1 .. $N) {
        my $line = "u$i;[authentication username=u$i password=pw]\n";
        print $csv $line;
        print { $i <= $first ? $a10 : $a90 } $line;
        print $yml "u$i: { ha1: \"" . md5_hex("u$i:127.0.0.1:pw") . "\" }\n";
    }
    close $_ for $csv, $a10, $a90, $yml;
    write_file("$work/callee.csv", "SEQUENTIAL\ncallee;-\n");
}

# --- processes ---------------------------------------------------------
sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or next;
        my $p = $s->sockport;
        close $s;
        return $p;
    }
    die "no free port\n";
}
sub descendants {       # pid and every process under it
    my ($pid) = @_;
    my @all = ($pid);
    for (my $i = 0; $i < @all; $i++) {
        push @all, map { /(\d+)/ ? $1 : () } `pgrep -P $all[$i]`;
    }
    return @all;
}
sub cpu_ticks {         # utime + stime of the server's processes
    my ($pid) = @_;
    my $t = 0;
    for my $p (descendants($pid)) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $s = <$fh>;
        $s =~ s/^.*\) //;                # past the command name
        my @f = split / /, $s;
        $t += $f[11] + $f[12];           # fields 14 and 15 of stat(5)
    }
    return $t;
}
sub pss_kib {
    my ($pid) = @_;
    my $k = 0;
    for my $p (descendants($pid)) {
        open my $fh, '<', "/proc/$p/smaps_rollup" or next;
        while (<$fh>) { $k += $1 if /^Pss:\s+(\d+) kB/ }
    }
    return $k;
}
my %server;             # the running server: name, pid, port, log
sub start_server {
    my ($name, $variant) = @_;
    my $port = free_port();
    my $log = "$work/$name-$variant.log";
    my @cmd;
    if ($name eq 'sipchain') {
        my $conf = { plain => 'sipchain.yaml', auth => 'sipchain-auth.yaml', b2bua => 'sipchain-b2bua.yaml' }->{$variant};
        @cmd = ($sipchain, '-c', "$top/bench/$conf");
    } else {
        return undef if $variant eq 'b2bua';     # no counterpart
        @cmd = ('kamailio', '-f', "$top/bench/kamailio.cfg", '-l', "udp:127.0.0.1:$port", '-DD', '-E',
                '-m', '512', '-M', '16', '-Y', $work, ($variant eq 'auth' ? ('-A', 'WITH_AUTH') : ()));
    }
    my $pid = fork() // die;
    if ($pid == 0) {
        $ENV{BENCH_PORT} = $port;
        $ENV{BENCH_MODULES} = $modules;
        $ENV{BENCH_USERS} = "$work/users.yaml";
        open STDERR, '>', $log or die;
        open STDOUT, '>&', \*STDERR or die;
        exec @cmd or exit 127;
    }
    %server = (name => $name, pid => $pid, port => $port, log => $log);
    # up when it answers OPTIONS (a plain socket: sipp would wait out its timeout)
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1') or die;
    my $me = $s->sockport;
    for my $i (1 .. 600) {
        die "bench: $name did not start:\n" . `tail -5 $log` if waitpid($pid, WNOHANG) == $pid;
        $s->send("OPTIONS sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-up$i\r\n"
                 . "From: <sip:up\@127.0.0.1>;tag=$i\r\nTo: <sip:127.0.0.1>\r\nCall-ID: up-$i\r\nCSeq: 1 OPTIONS\r\n"
                 . "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        if (select(my $r = $rin, undef, undef, 0.1)) { $s->recv(my $buf, 4096); return \%server if $buf =~ /^SIP\/2\.0 200/ }
    }
    die "bench: $name does not answer OPTIONS:\n" . `tail -5 $log`;
}
sub stop_server {
    return unless $server{pid};
    kill 'TERM', $server{pid};
    my $end = time + 30;
    sleep 0.1 while time < $end && waitpid($server{pid}, WNOHANG) != $server{pid};
    if (time >= $end) { kill 'KILL', $server{pid}; waitpid($server{pid}, 0) }
    %server = ();
}

# --- sipp --------------------------------------------------------------
my $runs = 0;
# One bounded sipp run; returns its counts (from -trace_stat) and, with
# rtt, the response times.
# sipp's socket buffers: its default (64 KiB, 128 KiB as the kernel
# counts) overflowed first at about 14 000 REGISTER/s against either server
# (`ss -uam` showed drops on sipp's socket, none on the server's), so the
# probe measured sipp.  With 1 MiB the server's limit shows.
my $sipp_buf = 1 << 20;
sub sipp_args {
    my ($xml, %a) = @_;
    my $inf = $a{inf} ? "-inf $a{inf}" : '';
    my $svc = $a{service} ? "-s $a{service}" : '';
    my $hold = defined $a{hold} ? "-d $a{hold}" : '';
    my $limit = $a{limit} // int($a{rate} * 2 + 100);
    my $bound = int($a{calls} / $a{rate}) + ($a{hold} // 0) / 1000 + 15;
    return "-sf $top/bench/sipp/$xml $inf $svc $hold -r $a{rate} -m $a{calls} -l $limit -i 127.0.0.1 "
         . "-p " . ($a{port} // free_port()) . " -timeout ${bound}s -timeout_error -nostdin -max_socket 100 "
         . "-buff_size $sipp_buf "
         . "127.0.0.1:$server{port}";
}
sub sipp_run {
    my ($tag, $xml, %a) = @_;
    my $n = ++$runs;
    my $dir = "$work/run$n-$tag";
    make_path($dir);
    my $rtt = $a{rtt} ? '-trace_rtt -rtt_freq 1' : '';
    my $t0 = time;
    my $c0 = cpu_ticks($server{pid});
    my $rc = system("cd $dir && $sipp " . sipp_args($xml, %a) . " -trace_stat -fd 1 -stf stat.csv $rtt >out.txt 2>&1") >> 8;
    my $c1 = cpu_ticks($server{pid});
    my %r = (rc => $rc, secs => time - $t0, cpu_ms => ($c1 - $c0) * 1000 / $hz, dir => $dir);
    if (open my $fh, '<', "$dir/stat.csv") {
        my @lines = <$fh>;
        my @h = split /;/, $lines[0];
        my @v = split /;/, $lines[-1];
        my %s;
        @s{@h} = @v;
        $r{ok} = $s{'SuccessfulCall(C)'} // 0;
        $r{failed} = $s{'FailedCall(C)'} // 0;
        $r{retrans} = $s{'Retransmissions(C)'} // 0;
    }
    if ($a{rtt}) {
        my @t;
        for my $f (glob("$dir/*_rtt.csv")) {
            open my $fh, '<', $f or next;
            while (<$fh>) { push @t, $1 if /^[\d.]+;([\d.]+);/ }
        }
        @t = sort { $a <=> $b } @t;
        $r{p50} = @t ? $t[floor(0.50 * $#t)] : undef;
        $r{p99} = @t ? $t[floor(0.99 * $#t)] : undef;
    }
    $r{ok} //= 0;
    $r{clean} = $rc == 0 && $r{ok} == $a{calls} && !$r{failed} && !$r{retrans};
    say_(sprintf("%-9s %-14s rate %6d: %6d ok, %d failed, %d retrans, %.1f s, server %.0f ms CPU",
                 $server{name}, $tag, $a{rate}, $r{ok}, $r{failed} // 0, $r{retrans} // 0, $r{secs}, $r{cpu_ms})) unless $a{quiet};
    return \%r;
}

# the callee for call scenarios: registered, then a long-lived sipp UAS
my $callee;
sub start_callee {
    my $port = free_port();
    my $r = sipp_run('callee-reg', 'register.xml', inf => "$work/callee.csv", rate => 10, calls => 1, port => $port, quiet => 1);
    die "bench: the callee cannot register with $server{name}\n" unless $r->{clean};
    my $dir = "$work/callee-$port";
    make_path($dir);
    my $pid = fork() // die;
    if ($pid == 0) {
        exec("cd $dir && exec $sipp -sf $top/bench/sipp/uas.xml -i 127.0.0.1 -p $port -timeout 900s -nostdin -max_socket 100 >out.txt 2>&1") or exit 127;
    }
    $callee = $pid;
    sleep 0.3;
}
sub stop_callee {
    return unless $callee;
    kill 'TERM', $callee;
    my $end = time + 5;
    sleep 0.05 while time < $end && waitpid($callee, WNOHANG) != $callee;
    if (time >= $end) { kill 'KILL', $callee; waitpid($callee, 0) }
    $callee = undef;
}

# --- scenarios ---------------------------------------------------------
# name, server variant, sipp scenario, arguments, first rate
my @scenarios = (
    [ 'OPTIONS', 'plain', 'options.xml', {}, 2000 ],
    [ 'REGISTER', 'plain', 'register.xml', { inf => "$work/users.csv" }, 2000 ],
    [ 'REGISTER+auth', 'auth', 'register_auth.xml', { inf => "$work/users.csv" }, 1000 ],
    [ 'proxied call', 'plain', 'call.xml', { service => 'callee', hold => 0, callee => 1 }, 400 ],
    [ 'b2bua call', 'b2bua', 'call.xml', { service => 'callee', hold => 0, callee => 1 }, 300 ],
);
my %res;                # {scenario}{server} = { rate, cpu, p50_50, ... }
my %only = map { $_ => 1 } split /,/, $o{scenarios} // '';
@scenarios = grep { !%only || $only{ $_->[0] } } @scenarios;

for my $sc (@scenarios) {
    my ($label, $variant, $xml, $args, $r0) = @$sc;
    for my $name (@servers) {
        start_server($name, $variant) or next;
        start_callee() if $args->{callee};
        my %base = %$args;
        delete $base{callee};
        my ($good, $bad, $goodrun);
        my $rate = $o{quick} ? 50 : $r0;
        # past the last user sipp starts the file again: refreshes, still REGISTERs
        for (my $probe = 0; $probe < ($o{quick} ? 1 : 14); $probe++) {
            my $calls = $rate * $secs;
            my $r = sipp_run($label =~ s/\W+/-/gr, $xml, %base, rate => $rate, calls => $calls);
            # sustained: a sipp that fell behind its rate (out of CPU) did not
            # hold it for the whole time
            $r->{clean} = 0 if $r->{secs} > $secs * 1.2 + 1;
            if ($r->{clean}) { ($good, $goodrun) = ($rate, $r) } else { $bad = $rate }
            last if $o{quick};
            if (!defined $bad) { $rate = int($rate * 1.5) }
            elsif (!defined $good) { $rate = int($rate / 2); last if $rate < 10 }
            elsif ($bad - $good > $good * 0.1) { $rate = int(($good + $bad) / 2) }
            else { last }
            # a fresh server for each probe: REGISTER fills the location table
            if ($base{inf}) { stop_callee(); stop_server(); start_server($name, $variant); }
        }
        my %m = (rate => $good, cpu_ms => $goodrun ? $goodrun->{cpu_ms} / $goodrun->{ok} : undef);
        if ($good) {
            for my $pct (50, 90) {
                if ($base{inf}) { stop_callee(); stop_server(); start_server($name, $variant); start_callee() if $args->{callee} }
                my $rt = int($good * $pct / 100) || 1;
                my $calls = $rt * $secs;
                    my $r = sipp_run("$label-$pct%" =~ s/\W+/-/gr, $xml, %base, rate => $rt, calls => $calls, rtt => 1);
                @m{"p50_$pct", "p99_$pct"} = ($r->{p50}, $r->{p99});
            }
        }
        $res{$label}{$name} = \%m;
        stop_callee();
        stop_server();
    }
}

# --- memory --------------------------------------------------------------
my %mem;
for my $name (%only && !$only{memory} ? () : @servers) {
    start_server($name, 'plain');
    $mem{$name}{idle} = pss_kib($server{pid});
    my $rate = $o{quick} ? 100 : 2000;
    sipp_run('mem-reg-10k', 'register.xml', inf => "$work/users-first.csv", rate => $rate, calls => $first);
    sleep 0.5;
    $mem{$name}{reg10k} = pss_kib($server{pid});
    sipp_run('mem-reg-100k', 'register.xml', inf => "$work/users-rest.csv", rate => $rate, calls => $N - $first);
    sleep 0.5;
    $mem{$name}{reg100k} = pss_kib($server{pid});
    # a server transaction lives 64*T1 (32 s) after its answer: the
    # bindings alone are what is left once those are over
    sleep $settle;
    $mem{$name}{settled} = pss_kib($server{pid});
    stop_server();
    start_server($name, 'plain');
    start_callee();
    my $crate = $o{quick} ? 50 : 800;
    my $hold = int($up / $crate * 1000) + 4000;        # all up together for ~4 s
    my $pid = fork() // die;
    if ($pid == 0) {
        my $dir = "$work/mem-calls";
        make_path($dir);
        exec("cd $dir && exec $sipp " . sipp_args('call.xml', service => 'callee', hold => $hold, rate => $crate, calls => $up, limit => $up + 100)
             . " >out.txt 2>&1") or exit 127;
    }
    sleep($up / $crate + 2);
    $mem{$name}{calls} = pss_kib($server{pid});
    waitpid($pid, 0);
    say_(sprintf("%-9s memory: idle %d KiB, 10k reg %d KiB, 100k reg %d KiB, %d s later %d KiB, %d calls up %d KiB",
                 $name, @{ $mem{$name} }{qw(idle reg10k reg100k)}, $settle, $mem{$name}{settled}, $up,
                 $mem{$name}{calls}));
    stop_callee();
    stop_server();
}

# --- report ----------------------------------------------------------------
my ($a, $b) = ('sipchain', 'kamailio');
sub fmt { my ($v, $f) = @_; return defined $v ? sprintf($f, $v) : 'n/a' }
# sipp measures response times in whole milliseconds: 0 is "under 1 ms"
sub ms { my ($v) = @_; return !defined $v ? 'n/a' : $v < 1 ? '<1' : sprintf('%d', $v) }
sub ratio { my ($x, $y) = @_; return defined $x && defined $y && $y > 0 ? sprintf('%.2f', $x / $y) : 'n/a' }
my $out = "| scenario | figure | sipchain | Kamailio | sipchain / Kamailio |\n|---|---|---|---|---|\n";
for my $sc (@scenarios) {
    my $l = $sc->[0];
    my ($x, $y) = ($res{$l}{$a} // {}, $res{$l}{$b} // {});
    $out .= "| $l | highest clean rate (/s) | " . fmt($x->{rate}, '%d') . ' | ' . fmt($y->{rate}, '%d') . ' | ' . ratio($x->{rate}, $y->{rate}) . " |\n";
    $out .= "| | server CPU per operation (ms) | " . fmt($x->{cpu_ms}, '%.4f') . ' | ' . fmt($y->{cpu_ms}, '%.4f') . ' | ' . ratio($x->{cpu_ms}, $y->{cpu_ms}) . " |\n";
    for my $pct (50, 90) {
        $out .= "| | response p50 / p99 at $pct% of the rate (ms) | " . ms($x->{"p50_$pct"}) . ' / ' . ms($x->{"p99_$pct"})
              . ' | ' . ms($y->{"p50_$pct"}) . ' / ' . ms($y->{"p99_$pct"}) . " | |\n";
    }
}
my ($ma, $mb) = ($mem{$a} // {}, $mem{$b} // {});
for ([ idle => 'idle (PSS, KiB)' ], [ reg10k => "after $first registrations (KiB)" ],
     [ reg100k => "after $N registrations (KiB)" ], [ settled => "the same, $settle s later (KiB)" ],
     [ calls => "with $up calls up (KiB)" ]) {
    my ($k, $t) = @$_;
    $out .= "| memory | $t | " . fmt($ma->{$k}, '%d') . ' | ' . fmt($mb->{$k}, '%d') . ' | ' . ratio($ma->{$k}, $mb->{$k}) . " |\n";
}
for ([ reg100k => '0.5 s after the last' ], [ settled => "$settle s after" . ($settle > 32 ? ': bindings alone' : '') ]) {
    my ($k, $t) = @$_;
    my $per = sub { my ($m) = @_; return defined $m->{$k} && defined $m->{idle} ? ($m->{$k} - $m->{idle}) / ($N / 1000) : undef };
    $out .= "| memory | KiB per 1 000 bindings, $t | " . fmt($per->($ma), '%.1f') . ' | ' . fmt($per->($mb), '%.1f') . ' | '
          . ratio($per->($ma), $per->($mb)) . " |\n";
}
my ($v1) = `$sipchain -V` =~ m{(sipchain/\S+)};
my ($v2) = `kamailio -v 2>/dev/null` =~ /(kamailio \S+)/;
my ($v3) = `$sipp -v 2>&1` =~ /(SIPp v[\d.]+)/;
my $ver = join ', ', map { $_ // 'n/a' } $v1, $v2, $v3;
my $report = "Run: " . localtime() . ", $ver, " . ($o{quick} ? 'quick' : "$secs s per probe") . "\n\n$out";
print $report;
write_file($o{out}, $report) if $o{out};
