#!/usr/bin/perl
# What the guard module costs (issue: hostile traffic; BENCHMARKS.md):
#
#   perl bench/guard_cost.pl [--ops N]
#
# 1. Instructions, not seconds (callgrind counts the same whatever else
#    the machine does): sipchain with bench/sipchain.yaml, once as it is
#    and once with `guard` first in the chain at its defaults, under
#    valgrind --tool=callgrind, takes N REGISTERs (from sipp, at 15/s:
#    under the guard's default 20/s per source) and then N proxied calls
#    to a registered sipp callee.  Reported: instructions per REGISTER
#    and per call, both ways (the difference of two runs, N and 2N, so
#    start and stop cancel out), and the guard's share.
# 2. The clean rate under a flood: the highest REGISTER rate sipp
#    sustains (no failed call, no retransmission) from one address, without
#    and with a flood aimed at ten times that rate from another address
#    (every other datagram garbage, the rest OPTIONS: a scanner the guard
#    blocks), the guard at its defaults in both.  Seconds this time: run
#    it on a quiet machine.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Getopt::Long;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my %o = (ops => 200);
GetOptions(\%o, 'ops=i', 'skip-rate', 'skip-cost') or die "usage: see the head of $0\n";
my $top = `cd "\$(dirname $0)/.." && pwd`;
chomp $top;
my $work = tempdir(CLEANUP => 1);
my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
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
             . " -p " . free_port() . ($a{inf} ? " -inf $a{inf}" : '') . ($a{service} ? " -s $a{service} -d 0" : '')
             . " -timeout " . (int($n / $rate) + 30) . "s -timeout_error -nostdin -buff_size 1048576 127.0.0.1:$port";
    my $out = `cd $work && $sipp $args -trace_stat -stf st.csv 2>&1`;
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
# instructions of one run: N REGISTERs then N calls, under callgrind
sub instructions {
    my ($guard, $n) = @_;
    my $port = free_port();
    my $out = "$work/cg-$port.out";
    my $pid = start($port, $guard, 'valgrind', '--tool=callgrind', "--callgrind-out-file=$out");
    my $cal = callee($port);
    my ($rc1, $ok1) = sipp($port, 'register.xml', 15, $n, inf => users("u$port", $n, 0));
    my ($rc2, $ok2) = sipp($port, 'call.xml', 10, $n, service => 'callee');
    kill 'TERM', $cal;
    waitpid($cal, 0);
    stop($pid);
    die "runs not clean (REGISTER $ok1/$n, calls $ok2/$n)\n" unless $ok1 == $n && $ok2 == $n;
    my $ann = `callgrind_annotate --inclusive=no $out 2>/dev/null`;
    my ($total) = $ann =~ /^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m;
    $total =~ s/,//g;
    return $total;
}

print "# guard cost, " . `date -u` . "\n";
unless ($o{'skip-cost'}) {
    my $n = $o{ops};
    my %ir;
    for my $g (0, 1) {
        my $t1 = instructions($g, $n);
        my $t2 = instructions($g, 2 * $n);
        $ir{$g} = ($t2 - $t1) / $n;             # the second run's n more of each
        printf "%-14s %12.0f instructions per REGISTER + proxied call (runs of %d and %d of each)\n",
            $g ? 'with guard' : 'without guard', $ir{$g}, $n, 2 * $n;
    }
    printf "with / without: %.3f (%+.1f%%)\n\n", $ir{1} / $ir{0}, 100 * ($ir{1} / $ir{0} - 1);
}
unless ($o{'skip-rate'}) {
    # the highest clean REGISTER rate from 127.0.0.1 within 2 000..20 000/s
    # (the guard's per-source rate would refuse it: that source is trusted,
    # as a test client must be; the flood comes from 127.0.0.9, untrusted)
    my $probe = sub {
        my ($port, $rate) = @_;
        my ($rc, $ok, $retr) = sipp($port, 'register.xml', $rate, $rate * 5, inf => users("p$rate", $rate * 5, 0));
        return $ok == $rate * 5 && $retr == 0;
    };
    for my $flood (0, 1) {
        my $port = free_port();
        my $conf = config($port, 1);
        (my $y = slurp($conf)) =~ s/  - module: guard\n/  - module: guard\n    trusted: [ 127.0.0.1 ]\n/;
        open my $f, '>', $conf or die;
        print $f $y;
        close $f;
        my $pid = fork() // die;
        if ($pid == 0) { open STDERR, '>', "$work/log-$port"; exec("$top/objs/sipchain", '-c', $conf) or POSIX::_exit(127) }
        sleep 1;
        my $best = 0;
        for (my $rate = 2000; $rate <= 20000; $rate += 2000) {
            my $fl;
            if ($flood) {      # ten times the rate, garbage, from one other address, for the probe's length
                $fl = fork() // die;
                if ($fl == 0) {
                    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.9', PeerAddr => "127.0.0.1:$port") or POSIX::_exit(1);
                    my ($t0, $sent) = (time, 0);
                    my $per = 10 * $rate / 100;       # per 10 ms
                    while (time < $t0 + 5) {
                        for (1 .. $per) {      # every other one parses: a scanner the guard blocks
                            $s->send($sent % 2 ? "GARBAGE " . ('x' x 200)
                                     : "OPTIONS sip:x\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK$sent\r\n"
                                     . "From: <sip:s\@x>;tag=$sent\r\nTo: <sip:x\@127.0.0.1>\r\nCall-ID: f$sent\r\n"
                                     . "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
                            $sent++;
                        }
                        sleep 0.01;
                    }
                    open my $f, '>', "$work/flood-$rate" or POSIX::_exit(1);
                    printf $f "%d\n", $sent / (time - $t0);
                    close $f;
                    POSIX::_exit(0);
                }
            }
            my $clean = $probe->($port, $rate);
            waitpid($fl, 0) if $fl;          # it stops by itself after 5 s
            last unless $clean;
            $best = $rate;
        }
        my $pps = $flood && $best ? (slurp("$work/flood-$best") =~ /(\d+)/ ? $1 : 0) : 0;
        printf "%-28s highest clean REGISTER rate %d/s%s\n", $flood ? 'with a garbage flood:' : 'without a flood:',
            $best, $flood ? sprintf(' (the flood: %d datagrams/s from one other address)', $pps) : '';
        stop($pid);
    }
}
