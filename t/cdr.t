# cdr-writer end to end: one JSON record per call when it ends, with the
# fields sipp's calls imply (answered and hung up, challenged with 407
# (no record), cancelled), the authenticated user, durations; CSV with a header row;
# SIGUSR1 reopens the file (logrotate); a graceful stop during traffic
# writes every call (none lost); a bad config names file:line:col.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);
use JSON::PP;
use Socket ();
use Digest::MD5 qw(md5_hex);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $mods = module_dir();
my $dir = tmpdir();
my $scen = "$ENV{PWD}/t/sipp";
my $cdrs = "$dir/cdr.jsonl";
my $users = write_file('users.yaml', "alice: { ha1: \"" . md5_hex('alice:example.com:pw') . "\" }\n");

sub conf {
    my ($port, $file, $format, $auth) = @_;
    return "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: debug }\n"
         . "  timers: { t1: 100, t2: 400, t4: 500 }\n  limits: { stop_timeout: 3 }\n"
         . "modules_path: $mods\nchain:\n"
         . "  - module: cdr-writer\n    file: $file\n    format: $format\n"
         . "  - module: digest-auth\n    realm: example.com\n    users: $users\n    methods: [ " . ($auth ? 'INVITE' : 'MESSAGE') . " ]\n"
         . "  - module: t_dialog\n";
}
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => conf($port, $cdrs, 'json'));

sub records {
    my ($file) = @_;
    open my $fh, '<', $file or return ();
    return map { decode_json($_) } grep { /\S/ } <$fh>;
}
sub sipp_run {
    my ($name, $xml, $n, $inf, $extra) = @_;
    my $csv = write_file("$name.csv", "SEQUENTIAL\n$inf\n");
    return system("cd $dir && $sipp -sf $scen/$xml -inf $csv -m $n -r 20 -i 127.0.0.1 -p " . free_port()
                  . " " . ($extra // '') . " -timeout 30s -timeout_error -nostdin -s service 127.0.0.1:$port >$name.out 2>&1") >> 8;
}

# 1. answered calls, BYE from sipp
is(sipp_run('ok', 'dialog_uac.xml', 20, 'uas;-;0;'), 0, 'sipp: 20 calls answered, hung up by sipp');
sleep 0.5;
my @r = records($cdrs);
is(scalar @r, 20, '20 records');
my @good = grep { $_->{final_status} == 200 && $_->{reason} eq 'normal-release' && $_->{role} eq 'uas'
                  && $_->{source} eq 'network' && $_->{start_time} && $_->{stop_time} && $_->{attempt_time}
                  && $_->{duration_s} >= 0.15 && $_->{duration_s} < 5 && $_->{from} =~ /sipp/ && $_->{to} =~ /service/ } @r;
is(scalar @good, 20, 'each: 200, normal-release, uas, network, three times, a duration about the 200 ms sipp waits');
my %ids = map { $_->{call_id} => 1 } @r;
is(scalar keys %ids, 20, 'one per Call-ID');

# 2. rejected (407 from digest-auth) and cancelled, from a raw peer
my $c = udp_client();
my $me = $c->sockport;
sub invite {
    my ($cid, $method, %h) = @_;
    $method //= 'INVITE';
    my $x = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return "$method sip:svc\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-$cid;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: \"A, B\" <sip:alice\@example.com>;tag=t$cid\r\n"
         . "Call-ID: $cid\r\nCSeq: 1 $method\r\nContact: <sip:alice\@127.0.0.1:$me>\r\n$x"
         . "Content-Length: 0\r\n\r\n";
}
sub finals { my ($cid, $secs) = @_; my @f; my $end = time + $secs;
    while ((my $l = $end - time) > 0) { my $m = recv_msg($c, $l) // last; push @f, $m if $m =~ /^SIP\/2\.0 [2-6]/ && $m =~ /^Call-ID: \Q$cid\E\r$/m }
    return @f }
my $to = Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1'));
$c->send(invite('cx-1', 'INVITE', 'X-Mode' => 'uas', 'X-Early' => 3000), 0, $to);
sleep 0.4;
$c->send(invite('cx-1', 'CANCEL'), 0, $to);
finals('cx-1', 1);
$c->send(invite('cx-1', 'ACK'), 0, $to);
sleep 0.3;
my ($cx) = grep { $_->{call_id} eq 'cx-1' } records($cdrs);
is($cx && "$cx->{final_status} $cx->{reason}", '487 call-canceled', 'a cancelled call: 487, call-canceled');
ok($cx && !defined $cx->{start_time} && $cx->{duration_s} == 0, 'never started: no start_time, no duration');
is($cx && $cx->{from}, '"A, B" <sip:alice@example.com>;tag=tcx-1', 'From as it came (quotes kept, JSON-escaped)');

# 3. a graceful stop during traffic: every call gets its record
my $sp = fork() // die;
if ($sp == 0) {
    my $csv = write_file('held.csv', "SEQUENTIAL\nuas;-;60000;\n");
    exec("cd $dir && exec $sipp -sf $scen/dialog_uac_byein.xml -inf $csv -m 10 -r 20 -i 127.0.0.1 -p " . free_port()
         . " -timeout 30s -timeout_error -nostdin -s service 127.0.0.1:$port >held.out 2>&1");
}
sleep 1.5;      # 10 calls up, held by the UAS for 60 s
my $before = scalar records($cdrs);
is(stop_server($pid), 0, 'stopped during 10 calls');
my $end = time + 20;
waitpid($sp, 0) if time < $end;
my @after = records($cdrs);
is(scalar(@after) - $before, 10, 'the 10 calls in progress each got a record');
my @held = @after[$before .. $#after];
is(scalar(grep { $_->{final_status} == 200 && $_->{start_time} } @held), 10, 'answered, with their start');
like(join(' ', map { $_->{reason} } @held), qr/^(system-initiated-termination ?){10}$/, 'ended by us: system-initiated-termination');

# 3b. rejected by digest-auth (407), then authenticated: the user is kept
($pid, undef, $log) = start_server(port => $port, yaml => conf($port, $cdrs, 'json', 1));
$c->send(invite('au-1', 'INVITE', 'X-Mode' => 'uas'), 0, $to);
my ($ch) = finals('au-1', 2);
$c->send(invite('au-1', 'ACK'), 0, $to);
my ($nonce) = ($ch // '') =~ /nonce="(\w+)"/;
my ($opaque) = ($ch // '') =~ /opaque="(\w+)"/;
my $uri = "sip:svc\@127.0.0.1:$port";
my $resp = md5_hex(md5_hex('alice:example.com:pw') . ":$nonce:00000001:abc:auth:" . md5_hex("INVITE:$uri"));
my $inv = invite('au-2', 'INVITE', 'X-Mode' => 'uas', 'Proxy-Authorization' =>
    "Digest username=\"alice\", realm=\"example.com\", nonce=\"$nonce\", uri=\"$uri\", response=\"$resp\", algorithm=MD5, opaque=\"$opaque\", qop=auth, nc=00000001, cnonce=\"abc\"");
$c->send($inv, 0, $to);
my ($ok) = finals('au-2', 2);
like($ok // '', qr/^SIP\/2\.0 200/, 'the authenticated INVITE answered');
my ($tt) = ($ok // '') =~ /^To: [^\r]*tag=(\w+)/m;
(my $ack = invite('au-2', 'ACK')) =~ s/^(To: [^\r]*)/$1;tag=$tt/m;
$c->send($ack, 0, $to);
(my $bye = invite('au-2', 'BYE')) =~ s/^(To: [^\r]*)/$1;tag=$tt/m;
$bye =~ s/CSeq: 1 BYE/CSeq: 2 BYE/;
$c->send($bye, 0, $to);
finals('au-2', 1);
is(stop_server($pid), 0, 'stopped');
my %by = map { $_->{call_id} => $_ } records($cdrs);
is($by{'au-1'}, undef, 'challenged (407): no record, the retry is the call');
is($by{'au-2'} && $by{'au-2'}{user}, 'alice', 'authenticated: the record names the user');
is($by{'au-2'} && "$by{'au-2'}{final_status} $by{'au-2'}{reason}", '200 normal-release', 'and it was answered and hung up');

# 4. CSV, SIGUSR1 reopens
my $csvf = "$dir/cdr.csv";
($pid, undef, $log) = start_server(port => $port, yaml => conf($port, $csvf, 'csv'));
is(sipp_run('csv1', 'dialog_uac.xml', 2, 'uas;-;0;'), 0, 'two calls');
sleep 0.3;
rename $csvf, "$csvf.1" or die;
kill 'USR1', $pid;
sleep 0.3;
is(sipp_run('csv2', 'dialog_uac.xml', 1, 'uas;-;0;'), 0, 'one more after SIGUSR1');
is(stop_server($pid), 0, 'stopped');
my @old = do { open my $fh, '<', "$csvf.1" or die; <$fh> };
my @new = do { open my $fh, '<', $csvf or die; <$fh> };
is($old[0], "call_id,from,to,source,role,attempt_time,start_time,stop_time,duration_s,final_status,reason,user,correlation\n", 'CSV with a header row');
is(scalar @old, 3, 'the rotated file: header and two records');
is(scalar @new, 2, 'the new file (reopened on SIGUSR1): its header and the third record');
like($new[1] // '', qr/^([^,]+),sipp <sip:sipp\@[^,]+,\S*service[^,]*,network,uas,[^,]+,[^,]+,[^,]+,\d+\.\d{3},200,normal-release,,\1$/, 'a CSV record (its correlation: its Call-ID)');

# 5. config errors
my $bad = write_file('cdr-bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                     . "  - module: cdr-writer\n    file: $dir/x\n    format: xml\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr{cdr-bad\.yaml:7:13: format is json or csv, not "xml"}, 'a bad format: file:line:col');

done_testing();
