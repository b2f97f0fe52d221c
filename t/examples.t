# The README's "Examples": the authenticated flow, run as written but for
# ports and files (this test's own, so that it runs beside the others):
# proxy-auth-cdr.yaml serves, two sipp phones register with digest
# credentials, alice calls bob (407, then credentials), and the call's
# record names alice as who authenticated.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use JSON::PP qw(decode_json);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $dir = tmpdir();
my $text = do { local (@ARGV, $/) = 'README.md'; <> };
my ($ex) = $text =~ /^## Examples\n(.*?)^## /ms or BAIL_OUT('README has no Examples');
my @blocks = $ex =~ /^```sh\n(.*?)^```$/msg;
is(scalar @blocks, 2, 'two command blocks: the server, the phones');
like($blocks[0], qr{^\./objs/sipchain -c conf/examples/proxy-auth-cdr\.yaml$}m, 'the first runs proxy-auth-cdr.yaml from the checkout');
like($blocks[1], qr/-au alice -ap secret/, 'the phones give passwords');

my %port = map { $_ => free_port() } (5060, 5070, 5080);
my $cdr = "$dir/cdr.jsonl";
sub ours {
    my ($t) = @_;
    $t =~ s/\b(5060|5070|5080)\b/$port{$1}/g;
    $t =~ s{/tmp/sipchain-cdr\.jsonl}{$cdr}g;
    $t =~ s{conf/examples/proxy-auth-cdr\.yaml}{$dir/proxy-auth-cdr.yaml}g;
    $t =~ s{\./objs/sipchain}{@{[abs_path(sipchain())]}}g;
    return $t;
}
my $conf = ours(do { local (@ARGV, $/) = 'conf/examples/proxy-auth-cdr.yaml'; <> });
my $mods = module_dir();
$conf =~ s/^modules_path: .*$/modules_path: $mods/m;
write_file('proxy-auth-cdr.yaml', $conf);

my $log = "$dir/server.log";
my $pid = fork() // die;
if ($pid == 0) { open STDERR, '>', $log or die; exec('sh', '-c', 'exec ' . ours($blocks[0])) or exit 127 }
for (1 .. 100) { last if -e $log; select(undef, undef, undef, 0.05) }
wait_log($log, qr/started with/, 10);
like(wait_log($log, qr/started with/, 1), qr/2 user\(s\) from/, 'it serves alice and bob from users.yaml');
my $out = `cd $ENV{PWD} && timeout 60 bash -e -c '${\ ours($blocks[1]) }' 2>&1`;
is($? >> 8, 0, 'the phones block runs: register with passwords, answer, call with a password, read the record') or diag($out);
my ($line) = $out =~ /^(\{.*\})$/m;
my $rec = $line ? decode_json($line) : {};
is($rec->{reason}, 'normal-release', 'the call was answered and hung up');
is($rec->{user}, 'alice', 'the record names who authenticated: alice');
like($rec->{to} // '', qr/sip:bob\@example\.com/, 'a call to bob');
my $l = do { local (@ARGV, $/) = $log; <> } // '';
is(stop_server($pid), 0, 'stopped');
done_testing();
