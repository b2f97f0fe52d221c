# The registrar's log (persist) survives damage and stays small: a line
# that is not a record in the middle (text garbage, binary bytes with a
# NUL, a record whose numbers are not numbers) and a torn last line are
# each skipped with a warning naming the line, the server starts, and the
# good bindings around them are found; the damaged log is kept as
# PATH.damaged.  Many re-registrations do not grow the log past twice the
# live set plus 1024 lines (compaction: temp file, fsync, rename), and a
# restart after that still finds every binding.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my $store = "$dir/persist.log";

sub conf {
    my ($port) = @_;
    return "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
         . "modules_path: $mods\nchain:\n"
         . "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ example.com ]\n"
         . "    max_expires: 3600\n    persist: $store\n"
         . "  - module: t_locate\n    methods: [ MESSAGE ]\n";
}
my $port = free_port();
my $c = udp_client();
my $me = $c->sockport;
my $n = 0;

sub req {
    my (%o) = @_;
    my $method = $o{method} // 'REGISTER';
    my $user = $o{user};
    my $m = "$method sip:" . ($method eq 'MESSAGE' ? "$user\@" : '') . "example.com SIP/2.0\r\n"
          . "Via: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-p" . ++$n . ";rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:$user\@example.com>\r\n"
          . "From: <sip:$user\@example.com>;tag=f$n\r\nCall-ID: persist-$user\r\nCSeq: $n $method\r\n"
          . ($o{contact} ? "Contact: $o{contact}\r\nExpires: 3600\r\n" : '')
          . "Content-Length: 0\r\n\r\n";
    my $r = send_recv($c, $port, $m, 3);
    $r = recv_msg($c, 3) while defined $r && $r =~ m{^SIP/2\.0 1};
    return $r // '';
}
sub status { my ($r) = @_; return $r =~ m{^SIP/2\.0 (\d{3})} ? $1 : 'none' }
sub loc { my ($u) = @_; return '' unless kill 0, our $up; my $r = req(method => 'MESSAGE', user => $u); return $r =~ /^X-Loc: ([^|\r]*)/m ? $1 : '' }
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }
sub lines { my @l = split /\n/, slurp($_[0]); return scalar @l }
sub start {
    my $log;
    my $pid = eval { (my $p, undef, $log) = start_server(port => $port, yaml => conf($port)); $p };
    our $up = $pid // 0;
    return ($pid, $log // "$dir/sipchain-$port.log");
}

# 1. a log of three good records, written by the registrar itself
my ($pid, $log) = start();
ok($pid, 'started with no log');
is(status(req(user => $_, contact => "<sip:$_\@10.9.0.1:5060>")), '200', "$_ registered") for qw(alice bob carol);
is(stop_server($pid), 0, 'stopped');
my @good = grep { /^\+ / } split /\n/, slurp($store);
is(scalar @good, 3, 'three records in the log');

# 2. damage between them and at the end
my $torn = substr($good[0], 0, 30);
write_file('persist.log', "$good[0]\n"                                           # 1
             . "this is not a record at all\n"                                    # 2
             . "$good[1]\n"                                                       # 3
             . "+ sip:dave\@example.com sip:dave\@10.9.0.4 soon 1000 1 -1 x - - -\n"   # 4: a bad number
             . "\x00\xff\xfe binary \x01\x02 garbage\x00\n"                       # 5
             . "+ sip:erin\@example.com sip:erin\@10.9.0.5 99999999999 -7 1 -1 x - - -\n"   # 6: q out of range
             . "$good[2]\n"                                                       # 7
             . $torn);                                                           # 8: torn
($pid, $log) = start();
ok($pid, 'a damaged log: the server starts all the same');
my $t = wait_log($log, qr/persist\.log:8: a torn last line/);
like($t, qr/persist\.log:2: not a binding record \(skipped\)/, 'garbage text: warned about, naming line 2');
like($t, qr/persist\.log:4: not a binding record/, 'a record with a bad number: line 4');
like($t, qr/persist\.log:5: not a binding record/, 'binary garbage: line 5');
like($t, qr/persist\.log:6: not a binding record/, 'a q out of range: line 6');
like($t, qr/persist\.log:8: a torn last line/, 'the torn last line: line 8');
like($t, qr/5 damaged line\(s\) skipped; the log as it was is kept in \S*persist\.log\.damaged/, 'the damaged log kept');
is(slurp("$store.damaged") =~ /this is not a record/ ? 1 : 0, 1, 'PATH.damaged is the log as it was');
is(loc('alice'), 'sip:alice@10.9.0.1:5060', 'alice (before the damage) found');
is(loc('bob'), 'sip:bob@10.9.0.1:5060', 'bob (between damaged lines) found');
is(loc('carol'), 'sip:carol@10.9.0.1:5060', 'carol (after the damage) found');
is($pid ? loc('dave') . loc('erin') : 'no server', '', 'the damaged records are not bindings');
is($pid ? stop_server($pid) : 'no server', 0, 'stopped');
unlike(slurp($store), qr/not a record|binary/, 'the log was rewritten without the damage');

# 3. a truncated log (cut mid-record) and a log of nothing but garbage
my $whole = slurp($store);
write_file('persist.log', substr($whole, 0, length($whole) - 7));
($pid, $log) = start();
ok($pid, 'a log cut mid-record: started');
is(scalar(grep { loc($_) } qw(alice bob carol)), 2, 'the two whole records are bindings');
is($pid ? stop_server($pid) : 'no server', 0, 'stopped');
write_file('persist.log', join('', map { chr(int(rand(256))) } 1 .. 3000) . "\n");
($pid, $log) = start();
ok($pid, 'a log of random bytes: started');
is($pid ? stop_server($pid) : 'no server', 0, 'stopped');

# 4. compaction: 1500 re-registrations of 3 AORs leave a log of at most
# 2 x 3 + 1024 lines (without compaction it would hold 1500)
unlink $store;
($pid, $log) = start();
my $ok = 0;
for my $i (1 .. 1500) {
    my $u = (qw(ann ben cat))[$i % 3];
    $ok++ if status(req(user => $u, contact => "<sip:$u\@10.8.0.1:" . (5000 + $i % 3) . ">")) eq '200';
}
is($ok, 1500, '1500 re-registrations: all 200');
my $nl = lines($store);
cmp_ok($nl, '<=', 2 * 3 + 1024 + 1, "the log stays bounded ($nl lines)");
cmp_ok(-s $store, '<', 1024 * 200, 'and small (' . (-s $store) . ' bytes)');
ok(!-e "$store.new", 'no temp file left behind');
is(stop_server($pid), 0, 'stopped');
($pid, $log) = start();
is(join(' ', map { loc($_) } qw(ann ben cat)), 'sip:ann@10.8.0.1:5000 sip:ben@10.8.0.1:5001 sip:cat@10.8.0.1:5002',
   'after a restart every binding is there');
is(lines($store), 3, 'and the log holds just the live set');
is(stop_server($pid), 0, 'stopped');

# 5. a removal recorded just as the log is compacted stays removed: ann
# stays; zed1, zed2, ... come and go (a put, then a remove: two records
# each).  Counting from the start's compaction, records 1 (ann) + 2k cross
# the threshold (2 x 2 live + 1024) at record 1029, a removal: the
# compacted log must not hold the binding being removed.
unlink $store;
($pid, $log) = start();
req(user => 'ann', contact => '<sip:ann@10.7.0.1>');
my $gone = 0;
for my $i (1 .. 600) {
    req(user => "zed$i", contact => "<sip:zed$i\@10.7.0.2>");
    $gone++ if status(req(user => "zed$i", contact => "<sip:zed$i\@10.7.0.2>;expires=0")) eq '200';
}
is($gone, 600, '600 bindings made and removed');
is(stop_server($pid), 0, 'stopped');
($pid, $log) = start();
is(loc('ann'), 'sip:ann@10.7.0.1', 'after a restart ann is there');
is(join(' ', grep { loc($_) } map { "zed$_" } 1 .. 600), '', 'and none of the removed ones came back');
is(stop_server($pid), 0, 'stopped');

done_testing();
