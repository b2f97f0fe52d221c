# Under four times the clean call rate, calls already answered end
# cleanly and calls keep completing at least at the clean rate: the
# proxy (record-routing) in front of a callee that rings 1 s, with a
# small max_transactions so that the overload comes at a rate any
# machine sustains.  Phase 1: the clean rate, no call refused.  Phase 2:
# four times that for 20 s: new INVITEs over the limit get 503 (a ringing
# call holds two unanswered transactions: ours from the caller, ours to
# the callee; 30 of them are 15 calls ringing 1 s), every
# answered call's BYE gets its 200, and at least the clean rate of calls
# completes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

my $mods = module_dir();
my $scen = "$ENV{PWD}/t/sipp";
my $port = free_port();
my $uas = free_port();
my ($clean, $secs) = (5, 20);
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  limits: { max_transactions: 30 }
modules_path: $mods
chain:
  - module: proxy
    record_route: true
Y

# sipp's final message table, row by row in scenario order:
# [ name, direction, count ]
sub rows {
    my ($name) = @_;
    my @r;
    for (split /\n/, sipp_output($name)) {
        push @r, [ $1, $2, $3 ] if /^\s*(\S+)\s+(-+>|<-+)\s+(?:E-RTD\d\s+)?(\d+)/;
    }
    return @r;
}
sub count_of { my ($rows, $name, $dir, $nth) = @_; my @m = grep { $_->[0] eq $name && $_->[1] =~ /^\Q$dir\E/ } @$rows; return $m[$nth // 0] ? $m[$nth // 0][2] : 0 }

my $b = sipp_start('olb', "-sf $scen/uas_ring_long.xml -d 1000 -i 127.0.0.1 -p $uas -m 2000", 90);

# phase 1: the clean rate
my $a = sipp_start('ola1', "-sf $scen/overload_uac.xml -s callee -r $clean -m " . ($clean * 4)
                   . " -i 127.0.0.1 -p " . free_port() . " 127.0.0.1:$uas -rsa 127.0.0.1:$port", 60);
is(sipp_done($a, 60), 0, "$clean calls/s: every call ends") or diag(sipp_output('ola1'));
my @r1 = rows('ola1');
is(count_of(\@r1, '503', '<'), 0, "at $clean calls/s none is refused (the clean rate)");
is(count_of(\@r1, '200', '<', 0), $clean * 4, 'and every one is answered');

# phase 2: four times that
my $n = 4 * $clean * $secs;
$a = sipp_start('ola2', "-sf $scen/overload_uac.xml -s callee -r " . (4 * $clean) . " -m $n"
                . " -i 127.0.0.1 -p " . free_port() . " 127.0.0.1:$uas -rsa 127.0.0.1:$port", 90);
my $rc = sipp_done($a, 90);
my @r2 = rows('ola2');
my ($refused, $answered, $byes, $bye_ok) =
    (count_of(\@r2, '503', '<'), count_of(\@r2, '200', '<', 0), count_of(\@r2, 'BYE', '-'), count_of(\@r2, '200', '<', 1));
is($rc, 0, "4x: every call ended as expected (answered and hung up, or refused 503)") or diag(sipp_output('ola2'));
ok($refused > 0, "4x: new calls over the limit are refused ($refused of $n)");
is($refused + $answered, $n, 'every call was answered or refused');
is($bye_ok, $byes, "every answered call's BYE got its 200 ($bye_ok of $byes)");
ok($answered >= $clean * $secs, "calls kept completing at least at the clean rate ($answered in $secs s, clean: "
                                . $clean * $secs . ')');
like(wait_log($log, qr/max_transactions \(30\) unanswered/), qr/503 to \d+ new request/, 'the refusals are logged as summaries');
kill 'TERM', $b;
sipp_done($b, 10);
is(stop_server($pid), 0, 'clean stop');
done_testing();
