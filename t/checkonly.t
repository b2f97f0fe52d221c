# sipchain -t has no side effects: it creates no file (log file, CDR
# file, registrar log), starts nothing, and prints one verdict line;
# modules' notices appear only at log level debug.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Find;
use SipTest;

my $dir = tmpdir() . '/work';
mkdir $dir or die;
mkdir "$dir/var" or die;
my $build = $ENV{SC_BUILD} // 'objs';
my $mods = ($build =~ m{^/} ? $build : "$ENV{PWD}/$build") . '/modules';
my $bin = sipchain() =~ m{^/} ? sipchain() : "$ENV{PWD}/" . sipchain();

sub tree {
    my %t;
    find({ no_chdir => 1, wanted => sub { my @s = lstat($_); $t{$_} = "$s[7]/$s[9]" } }, $dir);
    return join("\n", map { "$_ $t{$_}" } sort keys %t);
}
sub conf {
    my ($name, $level, $extra) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh <<"Y";
server:
  listen: [ "udp:127.0.0.1:5060", "tcp:127.0.0.1:5060" ]
  log: { level: $level, target: file, file: $dir/var/sipchain.log, format: json }
  metrics: { listen: "127.0.0.1:9090" }
modules_path: $mods
chain:
  - module: cdr-writer
    file: $dir/var/cdr.jsonl
  - module: digest-auth
    realm: example.com
    users: $ENV{PWD}/conf/examples/users.yaml
  - module: registrar
    domains: [ example.com ]
    persist: $dir/var/bindings.log
  - module: proxy
    record_route: true
$extra
Y
    close $fh;
    return "$dir/$name";
}
my $good = conf('good.yaml', 'info', '');
my $dbg = conf('debug.yaml', 'debug', '');
my $before = tree();
# run from inside the directory: relative paths would land here too
my $out = `cd $dir && $bin -t -c $good 2>&1`;
is($? >> 8, 0, '-t: a good configuration exits 0');
is($out, "sipchain: configuration $good is valid\n", 'one verdict line, nothing else (no module notice at info)');
is(tree(), $before, 'no file created or changed: no log file, no CDR file, no registrar log');

$out = `cd $dir && $bin -t -c $dbg 2>&1`;
is($? >> 8, 0, '-t at level debug: exits 0');
like($out, qr/user\(s\) from/, 'at level debug the modules\' notices are shown');
like($out, qr/\Qsipchain: configuration $dbg is valid\E\n\z/, 'and the verdict is the last line');
is(tree(), $before, 'still nothing created');

# what -t cannot create is still an error, named file:line:col
my $bad = conf('bad.yaml', 'info', '');
{
    local @ARGV = ($bad);
    local $^I = '';
    while (<>) { s{file: \Q$dir\E/var/cdr\.jsonl}{file: $dir/nodir/cdr.jsonl}; print }
}
$before = tree();
$out = `cd $dir && $bin -t -c $bad 2>&1`;
is($? >> 8, 1, '-t: a CDR file in a missing directory exits 1');
like($out, qr{^sipchain: configuration \Q$bad\E is invalid: \Q$bad\E:8:11: cannot create \Q$dir\E/nodir/cdr\.jsonl}, 'one line naming file:line:col and why');
is(scalar(() = $out =~ /\n/g), 1, 'one line');
is(tree(), $before, 'nothing created');

# a running server does create them (the check above is not vacuous)
my $port = free_port();
my $run = conf('run.yaml', 'info', '');
{
    local @ARGV = ($run);
    local $^I = '';
    while (<>) { s/5060/$port/g; s/9090/0/; s/  metrics: .*\n//; s/target: file, file: \S+, //; print }
}
my ($pid) = start_server(port => $port, yaml => do { local (@ARGV, $/) = $run; <> });
ok(-e "$dir/var/cdr.jsonl" && -e "$dir/var/bindings.log", 'a running server creates the CDR file and the registrar log');
is(stop_server($pid), 0, 'stopped');
done_testing();
