#!/usr/bin/perl
# What the guard module costs (issue 19: hostile traffic; BENCHMARKS.md):
#
#   perl bench/guard_cost.pl [--ops N] [--skip-cost] [--skip-drop] [--skip-rate]
#        [--garbage PCT] [--rates FROM:TO:STEP] [--seconds S] [--repeat K]
#
# 1. Instructions, not seconds (callgrind counts the same whatever else
#    the machine does): sipchain with bench/sipchain.yaml, once as it is
#    and once with `guard` first in the chain at its defaults, under
#    valgrind --tool=callgrind.  Three runs each: N REGISTERs (sipp, 15/s:
#    under the guard's default 20/s per source) then N proxied calls to a
#    registered sipp callee; 2N REGISTERs then N calls; N REGISTERs then
#    2N calls.  The second run's extra over the first, over N, is the
#    cost of one REGISTER; the third's, of one call (start, stop and the
#    callee's registration cancel out).
# 2. What dropping costs the server (--skip-drop leaves it out):
#    instructions per dropped datagram (callgrind; runs of 4 000 and
#    8 000 datagrams at 2 000/s, the difference over 4 000) for garbage
#    and for a blocked scanner's OPTIONS; and CPU time (utime + stime, all of the
#    kernel's work on the server's side included) per datagram of a
#    100 000/s flood and per REGISTER at 10 000/s, sipchain on CPU 0 and
#    the sender on CPU 1.  From these, the clean rate a 10x flood leaves
#    when the server's core is what limits: 1 / (1 + 10 x drop / REGISTER).
# 3. The clean rate under a flood: the highest REGISTER rate sipp
#    sustains for S seconds (every one answered, no retransmission) from
#    127.0.0.1 (trusted: a test client must be, the default 20/s per
#    source would refuse it), without and with bench/flood (built by
#    `make bench-tools`) sending ten times that rate from 127.0.0.9:
#    PCT % garbage (dropped by the parser), the rest a scanner's OPTIONS
#    (blocked by the guard).  sipchain runs on CPU 0, sipp and the flood
#    on CPU 1 (taskset): on a 2-core machine the server has a core apart
#    from the senders (anything else the machine runs aside), and the
#    kernel's loopback delivery of the flood runs on the senders' core.  Each probe rate is tried
#    without and with the flood back to back, K times.  Seconds this
#    time: run it on a quiet machine, and read the load it prints.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Getopt::Long;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my %o = (ops => 200, garbage => 100, rates => '4000:24000:2000', seconds => 5, repeat => 1);
GetOptions(\%o, 'ops=i', 'skip-rate', 'skip-cost', 'skip-drop', 'garbage=i', 'rates=s', 'seconds=i', 'repeat=i')
    or die "usage: see the head of $0\n";
my $top = `cd "\$(dirname $0)/.." && pwd`;
chomp $top;
my $work = tempdir(CLEANUP => 1);
my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
my ($taskset) = grep { -x } map { "$_/taskset" } split /:/, $ENV{PATH};
die "sipp not found\n" unless $sipp;
die "build first (objs/sipchain)\n" unless -x "$top/objs/sipchain";

sub slurp { my ($f) = @_; open my $h, '<', $f or return ''; local $/; return <$h> // '' }
sub free_port {
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or die;
    return $s->sockport;
}
sub config {
    my ($port, $guard) = @_;
    (my $y = slurp("$top/bench/sipchain.yaml")) =~ s/\$\{BENCH_PORT\}/$port/g;
    $y =~ s/\$\{BENCH_MODULES\}/$top\/objs\/modules/g;
    $y =~ s/^chain:\n/chain:\n  - module: guard\n/m if $guard;
    $y =~ s/log: \{ level: warn \}/log: { level: info }/;     # its "started" line
    open my $f, '>', "$work/c-$port.yaml" or die;
    print $f $y;
    close $f;
    return "$work/c-$port.yaml";
}
sub start {
    my ($port, $guard, @wrap) = @_;
    my $conf = config($port, $guard);
    my $pid = fork() // die;
    if ($pid == 0) {
        open STDERR, '>', "$work/log-$port" or die;
        exec(@wrap, "$top/objs/sipchain", '-c', $conf) or POSIX::_exit(127);
    }
    my $end = time + 60;
    while (time < $end) {
        my $t = slurp("$work/log-$port");
        return $pid if $t =~ /started with/;
        sleep 0.2;
    }
    die "sipchain did not start:\n" . slurp("$work/log-$port");
}
sub stop {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $end = time + 60;
    while (time < $end) { return if waitpid($pid, WNOHANG) == $pid; sleep 0.1 }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}
sub users {
    my ($name, $n, $from) = @_;
    open my $f, '>', "$work/$name.csv" or die;
    print $f "SEQUENTIAL\n", map { "u" . ($from + $_) . "\n" } 1 .. $n;
    close $f;
    return "$work/$name.csv";
}
# sipp: returns (exit code, successful calls, retransmissions)
sub sipp {
    my ($port, $xml, $rate, $n, %a) = @_;
    my $args = "-sf $top/bench/sipp/$xml -r $rate -m $n -l " . ($rate * 4 + 50) . " -i " . ($a{ip} // '127.0.0.1')
             . " -p " . ($a{port} // free_port()) . ($a{inf} ? " -inf $a{inf}" : '') . ($a{service} ? " -s $a{service} -d 0" : '')
             . " -timeout " . (int($n / $rate) + 30) . "s -timeout_error -nostdin -buff_size 1048576 127.0.0.1:$port";
    my $pin = $a{cpu} && $taskset ? "$taskset -c $a{cpu} " : '';
    my $out = `cd $work && $pin$sipp $args -trace_stat -stf st.csv 2>&1`;
    my $rc = $? >> 8;
    print STDERR "sipp $xml: rc $rc\n$out\n" if $rc && $ENV{GUARD_COST_DEBUG};
    my ($ok, $retr) = (0, 0);
    if (open my $f, '<', "$work/st.csv") {
        my @l = <$f>;
        my @h = split /;/, $l[0];
        my @v = split /;/, $l[-1];
        my %s;
        @s{@h} = @v;
        ($ok, $retr) = ($s{'SuccessfulCall(C)'} // 0, $s{'Retransmissions(C)'} // 0);
        unlink "$work/st.csv";
    }
    return ($rc, $ok, $retr);
}
sub callee {
    my ($port) = @_;
    my $cp = free_port();
    open my $f, '>', "$work/callee.csv" or die;
    print $f "SEQUENTIAL\ncallee\n";
    close $f;
    system("cd $work && $sipp -sf $top/bench/sipp/register.xml -inf $work/callee.csv -m 1 -i 127.0.0.1 -p $cp "
         . "-timeout 60s -nostdin 127.0.0.1:$port >/dev/null 2>&1") == 0 or die "the callee cannot register\n";
    my $pid = fork() // die;
    if ($pid == 0) {
        exec("cd $work && exec $sipp -sf $top/bench/sipp/uas.xml -i 127.0.0.1 -p $cp -timeout 900s -nostdin "
           . ">/dev/null 2>&1") or POSIX::_exit(127);
    }
    sleep 1;
    return $pid;
}
# instructions of one run: nreg REGISTERs then ncall calls, under callgrind
sub instructions {
    my ($guard, $nreg, $ncall) = @_;
    my $port = free_port();
    my $out = "$work/cg-$port.out";
    my $pid = start($port, $guard, 'valgrind', '--tool=callgrind', "--callgrind-out-file=$out");
    my $cal = callee($port);
    my ($rc1, $ok1) = sipp($port, 'register.xml', 15, $nreg, inf => users("u$port", $nreg, 0));
    my ($rc2, $ok2) = sipp($port, 'call.xml', 10, $ncall, service => 'callee');
    kill 'TERM', $cal;
    waitpid($cal, 0);
    stop($pid);
    die "runs not clean (REGISTER $ok1/$nreg, calls $ok2/$ncall)\n" unless $ok1 == $nreg && $ok2 == $ncall;
    my $ann = `callgrind_annotate --inclusive=no $out 2>/dev/null`;
    my ($total) = $ann =~ /^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m;
    $total =~ s/,//g;
    return $total;
}
# the kernel's count of datagrams dropped at a full receive buffer, for
# the UDP socket bound to port (the last column of /proc/net/udp)
sub udp_drops {
    my ($port) = @_;
    my $hex = sprintf '%04X', $port;
    open my $f, '<', '/proc/net/udp' or return 0;
    my $n = 0;
    while (<$f>) { my @c = split; $n += $c[-1] if $c[1] && $c[1] =~ /:$hex$/ }
    return $n;
}
sub cpu_ticks { my @f = split ' ', (slurp("/proc/$_[0]/stat") =~ /\)\s+(.*)/)[0] // ''; return ($f[11] // 0) + ($f[12] // 0) }
# a guarded server (127.0.0.1 trusted) on CPU 0, optionally under a wrapper
sub guarded {
    my (@wrap) = @_;
    my $port = free_port();
    my $conf = config($port, 1);
    (my $y = slurp($conf)) =~ s/  - module: guard\n/  - module: guard\n    trusted: [ 127.0.0.1 ]\n/;
    open my $f, '>', $conf or die;
    print $f $y;
    close $f;
    my $pid = fork() // die;
    if ($pid == 0) {
        open STDERR, '>', "$work/log-$port";
        exec(($taskset ? ($taskset, '-c', '0') : ()), @wrap, "$top/objs/sipchain", '-c', $conf) or POSIX::_exit(127);
    }
    my $end = time + 60;
    while (time < $end) { last if slurp("$work/log-$port") =~ /started with/; sleep 0.2 }
    return ($pid, $port);
}
sub flood {
    my ($port, $src, $rate, $n, $garbage) = @_;
    my $out = `$taskset -c 1 $top/objs/bench/flood -t 127.0.0.1:$port -s $src -r $rate -n $n -d 120 -g $garbage`;
    return $out =~ m{: (\d+)/s} ? $1 : 0;
}
sub load { my $u = `uptime`; return $u =~ /load average:\s*(.*)$/ ? $1 : '?' }

print "# guard cost, " . `date -u` . "# load average at start: " . load() . "\n\n";
unless ($o{'skip-cost'}) {
    my $n = $o{ops};
    my (%reg, %call);
    for my $g (0, 1) {
        my $base = instructions($g, $n, $n);
        $reg{$g} = (instructions($g, 2 * $n, $n) - $base) / $n;
        $call{$g} = (instructions($g, $n, 2 * $n) - $base) / $n;
        printf "%-14s %9.0f instructions per REGISTER, %9.0f per proxied call (N = %d)\n",
            $g ? 'with guard' : 'without guard', $reg{$g}, $call{$g}, $n;
    }
    printf "with / without: REGISTER %.3f (%+.1f%%), proxied call %.3f (%+.1f%%)\n\n",
        $reg{1} / $reg{0}, 100 * ($reg{1} / $reg{0} - 1), $call{1} / $call{0}, 100 * ($call{1} / $call{0} - 1);
}
my $flood = "$top/objs/bench/flood";
unless ($o{'skip-rate'} && $o{'skip-drop'}) {
    system("cd $top && make bench-tools >/dev/null") == 0 && -x $flood or die "cannot build bench/flood\n";
}
unless ($o{'skip-drop'}) {
    my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
    my $n = 4000;
    my %ir;
    for my $what ([garbage => 100, '127.0.0.9'], ['blocked OPTIONS' => 0, '127.0.0.8']) {
        my ($name, $g, $src) = @$what;
        my @t;
        for my $k (1, 2) {
            my $out = "$work/cg-drop-$k.out";
            my ($pid, $port) = guarded('valgrind', '--tool=callgrind', "--callgrind-out-file=$out");
            flood($port, $src, 2000, $k * $n, $g);
            sleep 1;
            stop($pid);
            my ($total) = `callgrind_annotate --inclusive=no $out 2>/dev/null` =~ /^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m;
            $total =~ s/,//g;
            push @t, $total;
        }
        $ir{$name} = ($t[1] - $t[0]) / $n;
        printf "%-16s %6.0f instructions per dropped datagram (callgrind, runs of %d and %d)\n", $name, $ir{$name}, $n, 2 * $n;
    }
    # CPU time, the kernel's part included
    my ($pid, $port) = guarded();
    my $ticks = sub { my @f = split ' ', (slurp("/proc/$pid/stat") =~ /\)\s+(.*)/)[0] // ''; ($f[11] // 0) + ($f[12] // 0) };
    my $m = 40000;
    my $c0 = $ticks->();
    my ($rc, $ok) = sipp($port, 'register.xml', 10000, $m, cpu => 1, inf => users('cpu', $m, 0));
    my $reg = ($ticks->() - $c0) / $hz / $m;
    printf "REGISTER         %6.1f us of server CPU each (%d at 10 000/s, %d answered)\n", 1e6 * $reg, $m, $ok;
    for my $what ([garbage => 100, '127.0.0.9'], ['blocked OPTIONS' => 0, '127.0.0.8']) {
        my ($name, $g, $src) = @$what;
        my $c1 = $ticks->();
        my $sent = 400000;
        flood($port, $src, 100000, $sent, $g);
        sleep 0.5;
        my $d = ($ticks->() - $c1) / $hz / $sent;
        printf "%-16s %6.2f us of server CPU per datagram (%d at 100 000/s); a 10x flood of it leaves %.0f %% of the clean rate when the server's core is the limit\n",
            $name, 1e6 * $d, $sent, 100 / (1 + 10 * $d / $reg);
    }
    stop($pid);
    print "load average: " . load() . "\n\n";
}
unless ($o{'skip-rate'}) {
    my ($from, $to, $step) = split /:/, $o{rates};
    my $secs = $o{seconds};
    my $port = free_port();
    my $conf = config($port, 1);
    (my $y = slurp($conf)) =~ s/  - module: guard\n/  - module: guard\n    trusted: [ 127.0.0.1 ]\n/;
    open my $f, '>', $conf or die;
    print $f $y;
    close $f;
    # one server for every probe (a fresh one would forget nothing that
    # matters: the flood's source is blocked within its first second)
    my $pid = fork() // die;
    if ($pid == 0) {
        open STDERR, '>', "$work/log-$port";
        my @pin = $taskset ? ($taskset, '-c', '0') : ();
        exec(@pin, "$top/objs/sipchain", '-c', $conf) or POSIX::_exit(127);
    }
    sleep 1;
    my ($tried, $diag) = (0, '');
    my $probe_port = free_port();   # the same Contact each time: a binding refreshed, not added
    my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
    my $probe = sub {       # (clean?, flood datagrams/s)
        my ($rate, $with) = @_;
        my $fl;
        if ($with) {
            $fl = fork() // die;
            if ($fl == 0) {
                open STDOUT, '>', "$work/flood.out" or POSIX::_exit(1);
                my @pin = $taskset ? ($taskset, '-c', '1') : ();
                exec(@pin, $flood, '-t', "127.0.0.1:$port", '-s', '127.0.0.9', '-r', 10 * $rate,
                     '-d', $secs + 1, '-g', $o{garbage}) or POSIX::_exit(127);
            }
            sleep 0.5;      # the flood first: the guard has blocked its source
        }
        my $n = $rate * $secs;
        my ($d0, $c0, $t0) = (udp_drops($port), cpu_ticks($pid), time);
        my ($rc, $ok, $retr) = sipp($port, 'register.xml', $rate, $n, cpu => 1, port => $probe_port,
                                    inf => users('p' . $tried++, $n, 0));
        my ($d1, $c1, $t1) = (udp_drops($port), cpu_ticks($pid), time);
        $diag = sprintf 'server CPU %.0f %%, %d lost at its socket', 100 * ($c1 - $c0) / $hz / ($t1 - $t0), $d1 - $d0;
        my $pps = 0;
        if ($fl) {
            waitpid($fl, 0);     # it stops by itself
            $pps = slurp("$work/flood.out") =~ m{: (\d+)/s} ? $1 : 0;
        }
        return ($ok == $n && $retr == 0, $pps, $ok, $retr);
    };
    my (%best, %pps);
    for my $k (1 .. $o{repeat}) {
        my %stop;
        for (my $rate = $from; $rate <= $to; $rate += $step) {
            for my $with (0, 1) {
                next if $stop{$with};
                my ($clean, $pps, $ok, $retr) = $probe->($rate, $with);
                printf "  round %d, %5d/s %-13s %s (%d answered of %d, %d retransmissions)%s; %s; load %s\n",
                    $k, $rate, $with ? 'with flood:' : 'without:', $clean ? 'clean' : 'NOT clean', $ok,
                    $rate * $secs, $retr, $with ? sprintf(', flood %d/s', $pps) : '', $diag, load();
                if ($clean) {
                    $best{$k}{$with} = $rate;
                    $pps{$k} = $pps if $with;
                } else {
                    $stop{$with} = 1;
                }
            }
            last if $stop{0} && $stop{1};
        }
        my ($b0, $b1) = ($best{$k}{0} // 0, $best{$k}{1} // 0);
        printf "round %d: highest clean REGISTER rate %d/s without a flood, %d/s with one (%d datagrams/s, %d %% garbage): %.0f %%\n",
            $k, $b0, $b1, $pps{$k} // 0, $o{garbage}, $b0 ? 100 * $b1 / $b0 : 0;
    }
    stop($pid);
    my $log = slurp("$work/log-$port");
    my ($dropped) = $log =~ /stopped \((\d+) datagrams dropped\)/;
    printf "server: %s datagrams dropped in all; load average at the end: %s\n", $dropped // '?', load();
}
