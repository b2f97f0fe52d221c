# A real SIP peer (sipp) against the real binary: a bounded run of
# OPTIONS transactions must all get their answer.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

# scripts/install-deps.sh installs sip-tester; its absence is a failure,
# not a reason to skip.
my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;

my ($pid, $port, $log) = start_server();
my $local = free_port();
my $dir = tmpdir();
# 200 calls at 50/s, each bounded by -timeout; sipp exits 0 only when
# every call succeeded.
my $rc = system("cd $dir && $sipp -sf $ENV{PWD}/t/sipp/options.xml -m 200 -r 50 -l 50 "
              . "-i 127.0.0.1 -p $local -timeout 30s -timeout_error -nostdin -trace_stat "
              . "-stf stats.csv 127.0.0.1:$port >sipp.out 2>&1");
is($rc >> 8, 0, 'sipp: all 200 OPTIONS answered');
my $stats = do { local (@ARGV, $/) = glob("$dir/stats.csv"); <> } // '';
my @lines = split /\n/, $stats;
my @head = split /;/, $lines[0] // '';
my @last = split /;/, $lines[-1] // '';
my %col; @col{@head} = @last;
is($col{'SuccessfulCall(C)'}, 200, 'sipp counts 200 successful calls');
is($col{'FailedCall(C)'}, 0, 'and no failed call');
is(stop_server($pid), 0, 'server stopped cleanly');

# the same over TCP, with the options module answering 200
my $build = $ENV{SC_BUILD} // 'objs';
my $tport = free_port();
my $mods = ($build =~ m{^/} ? $build : "$ENV{PWD}/$build") . '/modules';
($pid) = start_server(port => $tport, yaml => "server:\n  listen: [ \"tcp:127.0.0.1:$tport\" ]\n"
                                            . "modules_path: $mods\nchain:\n  - module: options\n");
$rc = system("cd $dir && $sipp -t t1 -sf $ENV{PWD}/t/sipp/options200.xml -m 200 -r 50 -l 50 "
           . "-i 127.0.0.1 -p " . free_port() . " -timeout 30s -timeout_error -nostdin "
           . "127.0.0.1:$tport >sipp-tcp.out 2>&1");
is($rc >> 8, 0, 'sipp over TCP: all 200 OPTIONS answered 200 by the options module')
    or diag(do { local (@ARGV, $/) = "$dir/sipp-tcp.out"; <> });
is(stop_server($pid), 0, 'server stopped cleanly');
done_testing();
