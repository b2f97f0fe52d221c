# The README opens with the two command lines, and .ci/run runs exactly
# the second (CI must test what the README promises).
use strict;
use warnings;
use Test::More;
use File::Temp ();

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

# the module in "Writing a module" builds out of tree with one line and loads
my $text = join '', @readme;
my ($mod) = $text =~ /## Writing a module.*?```c\n(.*?)```/s;
ok(defined $mod, 'README shows a module');
my $dir = File::Temp::tempdir(CLEANUP => 1);
open my $src, '>', "$dir/hello.c" or die;
print $src $mod;
close $src;
my $cc = `cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -Iinclude $dir/hello.c -o $dir/hello.so 2>&1`;
is($? >> 8, 0, 'it compiles against include/sipchain.h alone') or diag($cc);
open my $conf, '>', "$dir/c.yaml" or die;
print $conf "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $dir\nchain:\n  - module: hello\n";
close $conf;
my $sipchain = $ENV{SIPCHAIN} // 'objs/sipchain';
like(`$sipchain -t -c $dir/c.yaml 2>&1`, qr/is valid/, 'and sipchain loads it');

# the configuration reference names every key each module accepts (the
# keys lists its create checks), in that module's section
for my $src (glob('modules/*/*.c')) {
    my ($mod) = $src =~ m{modules/([^/]+)/};
    my $c = do { local (@ARGV, $/) = $src; <> };
    my @keys = map { /"([a-z_0-9]+)"/g } $c =~ /static const char \*const \w*keys\[\] = \{([^}]*)\}/g;
    next unless @keys;
    my ($section) = $text =~ /^### Module `\Q$mod\E`\n(.*?)(?=^##)/ms;
    ok(defined $section, "README has a section for module $mod") or next;
    my @missing = grep { $section !~ /`\Q$_\E`/ } @keys;
    is("@missing", '', "module $mod: every key in the reference ($src)");
}
done_testing();
