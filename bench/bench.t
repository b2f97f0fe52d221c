# "make bench-check", not part of "make check" (benchmarks load the
# machine, tests must not).  The benchmark script, once, tiny (bench/bench.pl --quick: a few hundred
# operations at a low rate against sipchain and Kamailio), so that it
# cannot rot.  It asserts that every phase ran and reported, never a time
# or a rate: benchmarks report, they do not fail builds.  A rate no probe
# sustained on a loaded machine is reported "n/a", and that is a report
# too (Kamailio's proxied call under sipp is the usual one), and so is a
# memory figure that a busy machine's noise made negative.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

my $dir = tmpdir();
my $out = `perl bench/bench.pl --quick --out $dir/report.md 2>$dir/bench.err`;
is($? >> 8, 0, 'bench/bench.pl --quick ran to the end') or diag(do { local (@ARGV, $/) = "$dir/bench.err"; <> });
for my $sc ('OPTIONS', 'REGISTER', 'REGISTER+auth', 'proxied call', 'b2bua call') {
    like($out, qr/^\| \Q$sc\E \| highest clean rate \(\/s\) \| (\d+|n\/a) \|/m, "$sc: sipchain's rate reported");
}
for my $sc ('OPTIONS', 'REGISTER', 'REGISTER+auth', 'proxied call') {
    like($out, qr/^\| \Q$sc\E \| highest clean rate \(\/s\) \| (\d+|n\/a) \| (\d+|n\/a) \|/m, "$sc: and Kamailio's, side by side");
}
like($out, qr/^\| memory \| after 300 registrations \(KiB\) \| (-?\d+|n\/a) \| (-?\d+|n\/a) \|/m, 'memory of both after the registrations');
like($out, qr/^\| memory \| the same, 1 s later \(KiB\) \| (-?\d+|n\/a) \| (-?\d+|n\/a) \|/m, 'and once the transactions are over');
like($out, qr/^\| memory \| KiB per 1 000 bindings, 1 s after \| (-?[\d.]+|n\/a) \| (-?[\d.]+|n\/a) \|/m, 'per binding');
like($out, qr/^\| memory \| with 100 calls up \(KiB\) \| (-?\d+|n\/a) \| (-?\d+|n\/a) \|/m, 'and with calls up');
ok(-s "$dir/report.md", '--out wrote the report');
done_testing();
