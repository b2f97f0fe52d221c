# The README's quick start, run as written but for where things are: the
# install block is t/install.t's business (here sipchain is the build's
# binary on PATH), and the fixed ports, the metrics port and the CDR file
# become this test's own, so that it can run beside the other tests.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use Time::HiRes qw(sleep);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $dir = tmpdir();
my $text = do { local (@ARGV, $/) = 'README.md'; <> };
my ($qs) = $text =~ /^## Quick start\n(.*?)^## /ms or BAIL_OUT('README has no Quick start');
my @blocks = $qs =~ /^```sh\n(.*?)^```$/msg;
is(scalar @blocks, 3, 'three command blocks: install, run, phones');
like($blocks[0], qr/make install$/m, 'the first installs (t/install.t checks make install)');

my %port = map { $_ => free_port() } (5060, 5070, 5080, 9090);
my $cdr = "$dir/cdr.jsonl";
sub ours {          # a block or config with this test's ports and files
    my ($t) = @_;
    $t =~ s/\b(5060|5070|5080|9090)\b/$port{$1}/g;
    $t =~ s{/tmp/sipchain-cdr\.jsonl}{$cdr}g;
    $t =~ s{/usr/local/etc/sipchain/examples/}{$dir/}g;
    return $t;
}
my $conf = do { local (@ARGV, $/) = 'conf/examples/quickstart.yaml'; <> };
$conf = ours($conf);
my $mods = module_dir();
$conf =~ s/^modules_path: .*$/modules_path: $mods/m;
write_file('quickstart.yaml', $conf);
mkdir "$dir/bin";
symlink(abs_path(sipchain()), "$dir/bin/sipchain") or die;
local $ENV{PATH} = "$dir/bin:$ENV{PATH}";

my $run = ours($blocks[1]);
like($run, qr/^sipchain -c \S+quickstart\.yaml$/m, 'the second runs sipchain');
my $log = "$dir/server.log";
my $pid = fork() // die;
if ($pid == 0) { open STDERR, '>', $log or die; exec('sh', '-c', "exec $run") or exit 127 }
for (1 .. 100) { last if -e $log; sleep 0.05 }
wait_log($log, qr/started with/, 10);
my $out = `cd $ENV{PWD} && bash -e -c '${\ ours($blocks[2]) }' 2>&1`;
is($? >> 8, 0, 'the phones block runs: register, answer, call, read the record') or diag($out);
like($out, qr/"reason":"normal-release"/, 'and the record says the call was answered and hung up') or diag($out);
like($out, qr/"to":"bob <sip:bob\@127\.0\.0\.1:\d+>"/, 'a call to bob');
require HTTP::Tiny;
my $page = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port{9090}/metrics")->{content} // '';
like($page, qr/^sipchain_calls_total\{reason="normal-release"\} 1$/m, 'the metrics page counts it');
like($page, qr/^sipchain_registrar_bindings\{link="3"\} 2$/m, 'between two registered phones (bob and alice)');
is(stop_server($pid), 0, 'Ctrl-C (SIGTERM here) stops it cleanly');
done_testing();
