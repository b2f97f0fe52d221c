# The default configuration (conf/sipchain.yaml, what the README's first
# line runs) is a working registrar + record-routing proxy + CDR writer
# on loopback with metrics on: phones register, a call goes through and
# leaves its record.  Ports and the CDR file become this test's own.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use POSIX ":sys_wait_h";
use Time::HiRes qw(sleep time);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $dir = tmpdir();
my %port = map { $_ => free_port() } (5060, 9090);
my $cdr = "$dir/cdr.jsonl";
my $conf = do { local (@ARGV, $/) = 'conf/sipchain.yaml'; <> };
like($conf, qr/^modules_path: objs\/modules$/m, 'it finds the modules of a build in the checkout');
like($conf, qr{^\s+file: /tmp/sipchain-cdr\.jsonl$}m, 'CDRs go to /tmp/sipchain-cdr.jsonl');
$conf =~ s/\b(5060|9090)\b/$port{$1}/g;
$conf =~ s{/tmp/sipchain-cdr\.jsonl}{$cdr}g;
my $mods = module_dir();
$conf =~ s/^modules_path: .*$/modules_path: $mods/m;
my ($pid, undef, $log) = start_server(port => $port{5060}, yaml => $conf);

my $scen = "$ENV{PWD}/conf/examples/sipp";
my ($bp, $ap) = (free_port(), free_port());
sub sipp { system("cd $dir && $sipp $_[0] -m 1 -nostdin -timeout 20s -timeout_error >>sipp.out 2>&1 127.0.0.1:$port{5060}") >> 8 }
is(sipp("-sf $scen/register.xml -s bob -p $bp"), 0, 'bob registers (REGISTER answered 200)');
is(sipp("-sf $scen/register.xml -s alice -p $ap"), 0, 'alice registers');
my $uas = fork() // die;
if ($uas == 0) { exec("cd $dir && exec $sipp -sn uas -p $bp -m 1 -nostdin -timeout 20s -timeout_error >uas.out 2>&1") }
sleep 0.3;
is(sipp("-sf $scen/call.xml -s bob -p $ap"), 0, 'alice calls bob through the proxy: answered, ACKed, hung up');
my $end = time + 20;
sleep 0.1 while time < $end && waitpid($uas, WNOHANG) != $uas;
is($? >> 8, 0, 'bob\'s phone got the call and its BYE (record-routed through the proxy)');
my $rec;
for (1 .. 40) {
    my @l = do { open my $fh, '<', $cdr or next; <$fh> };
    if (@l) { $rec = decode_json($l[-1]); last }
    sleep 0.1;
}
is($rec && $rec->{reason}, 'normal-release', 'the call left its CDR: answered and hung up');
is($rec && $rec->{role}, 'proxy-uas', 'as a proxied call');
require HTTP::Tiny;
my $page = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port{9090}/metrics")->{content} // '';
like($page, qr/^sipchain_registrar_bindings\{link="3"\} 2$/m, 'metrics on: two bindings (the registrar: link 3)');
like($page, qr/^sipchain_calls_total\{reason="normal-release"\} 1$/m, 'and one call');
is(stop_server($pid), 0, 'stopped') or diag(do { local (@ARGV, $/) = "$dir/sipp.out"; <> });
done_testing();
