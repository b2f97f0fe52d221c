# The README opens with the two command lines, and .ci/run runs exactly
# the second (CI must test what the README promises).
use strict;
use warnings;
use Test::More;

open my $fh, '<', 'README.md' or die;
my @readme = <$fh>;
my ($open) = grep { $readme[$_] =~ /^```sh$/ } 0 .. $#readme;
ok(defined $open && $open <= 2, 'README opens with a sh block');
my ($run, $test) = @readme[$open + 1, $open + 2];
is($readme[$open + 3], "```\n", 'exactly two command lines');
like($run, qr{\./objs/sipchain -c conf/sipchain\.yaml$}, 'first line runs sipchain with conf/');
like($test, qr{make -j2 check}, 'second line runs the test suite');
open my $ci, '<', '.ci/run' or die;
my @ci = grep { !/^\s*(#|$|set |cd )/ } <$ci>;
is(scalar @ci, 1, '.ci/run has one command');
is($ci[0], $test, '.ci/run runs exactly the README test line');
done_testing();
