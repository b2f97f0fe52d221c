# A reload keeps calls and their records (issue 20.1).  Raw peers on
# loopback: A calls, B (bob, registered) answers.
#
#   1. registrar + proxy (record-routed) + cdr-writer, once without and
#      once with `persist:`: a call up and a call ringing at a SIGHUP
#      (the first spanning two), bindings before it (one expiring after
#      it).  No record is written at the reload; the bindings and their
#      gauges stay exact (and drop as one expires); the ringing call is
#      answered after it; both calls end with BYEs (one from each side)
#      after it, each with exactly one record, 200 normal-release, start
#      before the reload, stop after, duration matching.  A call up at
#      SIGTERM: one record, `unfinished`, 200, its real start and the
#      duration so far.
#   2. b2bua + cdr-writer: the same with both legs (a BYE from A, one
#      from B, after the reload), one record per leg; the per-caller
#      limit counts the calls of before the reload.  At SIGTERM the call
#      up is ended by us: both legs system-initiated-termination.
#   3. a reload that takes cdr-writer out of the chain with a call up:
#      its record is written then (unfinished, 200, start, duration so
#      far), once; the call still ends with its BYE.
#   4. sipp calls through the b2bua held across two reloads: all end
#      cleanly, one record per leg.
#   5. cdr-writer's max_open: past it the oldest open call is written
#      (unfinished) and let go: reloads no longer empty the table.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Socket qw(pack_sockaddr_in inet_aton);
use JSON::PP;
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my ($as, $asp) = udp_peer();        # A, the caller
my ($bs, $bsp) = udp_peer();        # B, the callee
my ($port, $mport, $srv, $pid, $log, $cdrs);

# a step of a flow that the assertions rest on (not an assertion itself)
sub need { my ($ok, $what) = @_; return $ok if $ok; die "the flow broke: $what\n" }

sub records {
    open my $fh, '<', $cdrs or return ();
    return map { decode_json($_) } grep { /\S/ } <$fh>;
}
sub of { my ($cid) = @_; return grep { $_->{call_id} eq $cid } records() }
# the records of call cid once there are n (the writer is a thread)
sub settle { my ($cid, $n) = @_; my $end = time + 3; my @r;
    while (1) { @r = of($cid); return @r if @r >= $n || time > $end; sleep 0.05 } }
sub epoch { my ($t) = @_; return -1 unless ($t // '') =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/;
    return timegm($6, $5, $4, $3, $2 - 1, $1) + $7 / 1000 }
sub gauge { return metric_value($mport, 'sipchain_registrar_bindings{link="2"}') // -1 }
# the gauge once it reads want (bounded: the sweep runs every 50 ms)
sub gauge_is { my ($want, $secs) = @_; my $end = time + ($secs // 3); my $g;
    while (1) { $g = gauge(); return $g if $g == $want || time > $end; sleep 0.05 } }

# SIGHUP, then wait for the log to say it reloaded (the config as it is,
# or yaml when given)
my $reloads = 0;
sub reload {
    my ($yaml) = @_;
    write_file("sipchain-$port.yaml", $yaml) if $yaml;
    $reloads++;
    kill 'HUP', $pid;
    my $end = time + 10;
    while (time < $end) {
        my $n = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /reloaded/g;
        return 1 if $n >= $reloads;
        sleep 0.05;
    }
    return 0;
}

my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n";
my $nbr = 0;
# A request from socket port me (A's or B's) in dialog or not: %d has
# ruri, to, from, cid, routes (list), contact
sub req {
    my ($method, $me, $cseq, %d) = @_;
    $nbr++;
    my $body = $method eq 'INVITE' ? $sdp : '';
    return "$method $d{ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-rc$nbr;rport\r\n"
         . join('', map { "Route: $_\r\n" } @{ $d{routes} // [] })
         . "Max-Forwards: 70\r\nTo: $d{to}\r\nFrom: $d{from}\r\nCall-ID: $d{cid}\r\nCSeq: $cseq $method\r\n"
         . "Contact: <sip:peer\@127.0.0.1:$me>\r\n" . ($body ne '' ? "Content-Type: application/sdp\r\n" : '')
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
# The answer of the peer on socket s (port me) to request r
sub answer {
    my ($s, $me, $r, $status, $tag) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $r =~ /^((?:Via|Record-Route|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my $t = sip_header($r, 'To');
    $t .= ";tag=$tag" if $tag && $t !~ /tag=/;
    my $body = $status =~ /^200/ && $r =~ /^INVITE/ ? $sdp : '';
    $out .= "To: $t\r\nContact: <sip:peer\@127.0.0.1:$me>\r\n" . ($body ne '' ? "Content-Type: application/sdp\r\n" : '')
          . "Content-Length: " . length($body) . "\r\n\r\n$body";
    $s->send($out, 0, $srv);
}
# The next message on s that starts with re and is of Call-ID cid
# (others, retransmissions mostly, are skipped), or undef.
sub expect {
    my ($s, $re, $cid, $secs) = @_;
    my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) {
        my $m = recv_msg($s, $l) // return undef;
        return $m if $m =~ $re && (!defined $cid || sip_header($m, 'Call-ID') eq $cid);
    }
    return undef;
}
sub contact_of { my ($m) = @_; return sip_header($m, 'Contact') =~ /<([^>]+)>/ ? $1 : '' }

# A calls ruri (Call-ID cid, from user); B gets the INVITE: the call as
# a hash (A's INVITE, B's copy)
sub call {
    my ($cid, $ruri, $user) = @_;
    my %c = (cid => $cid, a_from => "<sip:$user\@example.com>;tag=a-$cid", to => '<sip:bob@example.com>');
    $c{inv} = req('INVITE', $asp, 1, ruri => $ruri, to => $c{to}, from => $c{a_from}, cid => $cid);
    $as->send($c{inv}, 0, $srv);
    $c{binv} = expect($bs, qr/^INVITE /, undef) // return undef;
    $c{bcid} = sip_header($c{binv}, 'Call-ID');
    return \%c;
}
# B answers (180 or 200); for 200, A gets it and ACKs: both sides' dialogs
sub ring { my ($c) = @_; answer($bs, $bsp, $c->{binv}, '180 Ringing', "b-$c->{cid}");
    return expect($as, qr/^SIP\/2\.0 180/, $c->{cid}) }
sub connect_call {
    my ($c) = @_;
    answer($bs, $bsp, $c->{binv}, '200 OK', "b-$c->{cid}");
    my $ok = expect($as, qr/^SIP\/2\.0 200/, $c->{cid}) // return 0;
    # A's dialog: the 200's Contact, its Record-Route reversed
    $c->{a} = { ruri => contact_of($ok), routes => [ reverse($ok =~ /^Record-Route: ([^\r]*)\r$/mg) ],
                from => $c->{a_from}, to => sip_header($ok, 'To'), cid => $c->{cid} };
    # B's: the INVITE's Contact, its Record-Route as it is
    $c->{b} = { ruri => contact_of($c->{binv}), routes => [ $c->{binv} =~ /^Record-Route: ([^\r]*)\r$/mg ],
                from => sip_header($c->{binv}, 'To') . ";tag=b-$c->{cid}", to => sip_header($c->{binv}, 'From'),
                cid => $c->{bcid} };
    $as->send(req('ACK', $asp, 1, %{ $c->{a} }), 0, $srv);
    return expect($bs, qr/^ACK /, $c->{bcid}) ? 1 : 0;
}
# A hangs up: B gets the BYE and says 200; A's answer's status
sub bye_from_a {
    my ($c) = @_;
    $as->send(req('BYE', $asp, 2, %{ $c->{a} }), 0, $srv);
    my $b = expect($bs, qr/^BYE /, $c->{bcid}) // return 'no BYE at B';
    answer($bs, $bsp, $b, '200 OK');
    return sip_status(expect($as, qr/^SIP\/2\.0 \d/, $c->{cid}));
}
# B hangs up: A gets the BYE and says 200; B's answer's status
sub bye_from_b {
    my ($c) = @_;
    $bs->send(req('BYE', $bsp, 1, %{ $c->{b} }), 0, $srv);
    my $b = expect($as, qr/^BYE /, $c->{cid}) // return 'no BYE at A';
    answer($as, $asp, $b, '200 OK');
    return sip_status(expect($bs, qr/^SIP\/2\.0 \d/, $c->{bcid}));
}
# bob (B) registers contact user (expires s): the 200's status
my $nreg = 0;
sub register {
    my ($user, $expires) = @_;
    $nreg++;
    $bs->send("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bsp;branch=z9hG4bK-rg$nreg;rport\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:$user\@example.com>\r\nFrom: <sip:$user\@example.com>;tag=r$nreg\r\n"
            . "Call-ID: reg-$user\r\nCSeq: $nreg REGISTER\r\nContact: <sip:$user\@127.0.0.1:$bsp>\r\n"
            . "Expires: $expires\r\nContent-Length: 0\r\n\r\n", 0, $srv);
    return sip_status(expect($bs, qr/^SIP\/2\.0 [2-6]/, "reg-$user"));
}
# one record: the figures a test compares
sub fig { my ($r) = @_; return 'missing' unless $r; return "$r->{final_status} $r->{reason} " . ($r->{role} // 'none') }
# its times: start before t0, stop after t1 (to the millisecond written),
# duration = stop - start
sub times_ok {
    my ($r, $t0, $t1) = @_;
    return 0 unless $r && defined $r->{start_time};
    my ($a, $s, $e) = map { epoch($r->{$_}) } qw(attempt_time start_time stop_time);
    return $a <= $s && $s < $t0 && $e > $t1 - 0.002 && abs(($e - $s) - $r->{duration_s}) < 0.1;
}

sub server_up {
    my ($yaml) = @_;
    $port = free_port();
    $mport = free_port();
    $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
    $reloads = 0;
    ($pid, undef, $log) = start_server(port => $port, yaml => $yaml->());
}

# --- 1. registrar + proxy, without and with persist ---------------------------
for my $persist (0, 1) {
    my $with = $persist ? 'with persist' : 'without persist';
    $cdrs = "$dir/proxy-$persist.jsonl";
    my $yaml = sub {
        "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
      . "  timers: { t1: 100, t2: 400, t4: 500 }\n  metrics: { listen: \"127.0.0.1:$mport\" }\n"
      . "modules_path: $mods\nchain:\n  - module: cdr-writer\n    file: $cdrs\n"
      . "  - module: registrar\n    domains: [ example.com ]\n    min_expires: 1\n"
      . ($persist ? "    persist: $dir/bindings-$port.log\n" : '')
      . "  - module: proxy\n    record_route: true\n";
    };
    server_up($yaml);
    need(register('bob', 300) eq '200', 'bob registers');
    need(register('carol', 3) eq '200', 'carol registers for 3 s');
    is(gauge(), 2, "$with: two bindings before the reload");

    my $c1 = need(call("up-$persist", 'sip:bob@example.com', 'alice'), 'a call reaches B');
    need(connect_call($c1), 'and is answered');
    my $c2 = need(call("ring-$persist", 'sip:bob@example.com', 'alice'), 'a second call reaches B');
    need(ring($c2), 'and rings');
    sleep 0.2;
    my $t0 = time;
    ok(reload(), "$with: SIGHUP with a call up and a call ringing");
    is(gauge(), 2, "$with: the gauge still says two bindings right after it");
    answer($bs, $bsp, $c2->{binv}, '200 OK', "b-$c2->{cid}");
    ok(connect_call($c2), "$with: the call ringing at the reload is answered after it");
    sleep 1.2;      # the old generation is gone (the reaper's second): nothing written for it
    is(scalar(of($c1->{cid})) + scalar(of($c2->{cid})), 0, "$with: no record written at the reload");
    ok(reload(), "$with: a second SIGHUP");
    my $c3 = need(call("after-$persist", 'sip:bob@example.com', 'dave'), 'bob is still found after the reloads');
    ok($c3, "$with: a new call still finds bob");
    need(connect_call($c3), 'the new call is answered');
    is(gauge_is(1, 5), 1, "$with: carol's binding expires after the reloads: the gauge says one");
    my $t1 = time;
    is(bye_from_a($c1), '200', "$with: the call of before both reloads ends with A's BYE through the proxy");
    is(bye_from_b($c2), '200', "$with: the call answered after the reload ends with B's BYE");
    my @r1 = settle($c1->{cid}, 1);
    my @r2 = settle($c2->{cid}, 1);
    is(join(', ', map { fig($_) } @r1, @r2), '200 normal-release proxy-uas, 200 normal-release proxy-uas',
       "$with: one record each, written when they ended");
    ok(times_ok($r1[0], $t0, $t1), "$with: the first call's record has its start before the reload, stop after it, the duration between");
    ok(times_ok($r2[0], $t0 + 2, $t1), "$with: the second's, its start (the answer after the reload) and its duration");
    sleep 0.5;
    my $t2 = time;
    is(stop_server($pid), 0, "$with: SIGTERM with a call up: clean stop");
    my @r3 = settle($c3->{cid}, 1);
    is(join(', ', map { fig($_) } @r3), '200 unfinished proxy-uas', "$with: the call up at stop: one record, 200, unfinished");
    ok($r3[0] && epoch($r3[0]{start_time}) < $t1 && epoch($r3[0]{stop_time}) >= $t2 - 0.1
       && abs(epoch($r3[0]{stop_time}) - epoch($r3[0]{start_time}) - $r3[0]{duration_s}) < 0.1
       && $r3[0]{duration_s} >= 0.5, "$with: with its real start time and the duration so far");
    is(scalar(records()), 3, "$with: three calls, three records");
}

# --- 2. b2bua ------------------------------------------------------------------
$cdrs = "$dir/b2bua.jsonl";
server_up(sub {
    "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
  . "  timers: { t1: 100, t2: 400, t4: 500 }\n  metrics: { listen: \"127.0.0.1:$mport\" }\n"
  . "modules_path: $mods\nchain:\n  - module: cdr-writer\n    file: $cdrs\n"
  . "  - module: b2bua\n    target: \"sip:bob\@127.0.0.1:$bsp\"\n    max_calls_per_caller: 1\n";
});
my $ruri = "sip:bob\@127.0.0.1:$port";
my $c1 = need(call('b2b-up', $ruri, 'alice'), 'a call reaches B');
need(connect_call($c1), 'and is answered');
my $c2 = need(call('b2b-ring', $ruri, 'erin'), 'a second call reaches B');
need(ring($c2), 'and rings');
sleep 0.2;
my $t0 = time;
ok(reload(), 'b2bua: SIGHUP with a call up and a call ringing');
{
    my $inv = req('INVITE', $asp, 1, ruri => $ruri, to => '<sip:bob@example.com>', from => '<sip:alice@example.com>;tag=a-more',
                  cid => 'b2b-more');
    $as->send($inv, 0, $srv);
    my $r = expect($as, qr/^SIP\/2\.0 [3-6]/, 'b2b-more');
    is(sip_status($r), '403', 'b2bua: the caller with a call up before the reload is still at its limit (403)');
    $as->send(non2xx_ack($inv, $r), 0, $srv) if $r;
    is(join(', ', map { fig($_) } settle('b2b-more', 1)), '403 call-rejected uas', 'b2bua: that call\'s record: rejected');
}
answer($bs, $bsp, $c2->{binv}, '200 OK', "b-$c2->{cid}");
ok(connect_call($c2), 'b2bua: the call ringing at the reload is answered after it');
sleep 1.2;
is(scalar(grep { $_->{call_id} ne 'b2b-more' } records()), 0, 'b2bua: no record written at the reload');
my $t1 = time;
is(bye_from_a($c1), '200', 'b2bua: the call of before the reload ends with A\'s BYE, both legs');
is(bye_from_b($c2), '200', 'b2bua: the call answered after it ends with B\'s BYE, both legs');
my @ra = (settle($c1->{cid}, 1), settle($c1->{bcid}, 1));
my @rb = (settle($c2->{cid}, 1), settle($c2->{bcid}, 1));
is(join(', ', map { fig($_) } @ra, @rb),
   '200 normal-release b2bua-uas, 200 normal-release b2bua-uac, 200 normal-release b2bua-uas, 200 normal-release b2bua-uac',
   'b2bua: one record per leg, written when they ended');
ok(times_ok($ra[0], $t0, $t1) && times_ok($ra[1], $t0, $t1), 'b2bua: the first call\'s records: start before the reload, stop after, duration');
ok(times_ok($rb[0], $t0 + 0.5, $t1) && times_ok($rb[1], $t0 + 0.5, $t1), 'b2bua: the second\'s: start after the reload, stop, duration');
my $c3 = call('b2b-again', $ruri, 'alice');
ok($c3 && connect_call($c3), 'b2bua: its call over, the caller may call again');
is(stop_server($pid), 0, 'b2bua: SIGTERM with a call up: clean stop');
my @rc = (settle($c3->{cid}, 1), settle($c3->{bcid}, 1));
is(join(', ', map { fig($_) } @rc), '200 system-initiated-termination b2bua-uas, 200 system-initiated-termination b2bua-uac',
   'b2bua: the call up at stop is ended by us (BYE to both legs): one record per leg');
is(scalar(records()), 7, 'b2bua: three calls, six records (and one for the call refused)');

# --- 3. a reload that takes cdr-writer out of the chain --------------------------
# what is open is written then (the last cdr-writer goes), as it stands
$cdrs = "$dir/out.jsonl";
my $with_cdr = 1;
my $yaml3 = sub {
    "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
  . "  timers: { t1: 100, t2: 400, t4: 500 }\n  metrics: { listen: \"127.0.0.1:$mport\" }\n"
  . "modules_path: $mods\nchain:\n" . ($with_cdr ? "  - module: cdr-writer\n    file: $cdrs\n" : '')
  . "  - module: registrar\n    domains: [ example.com ]\n  - module: proxy\n    record_route: true\n";
};
server_up($yaml3);
need(register('bob', 300) eq '200', 'bob registers');
my $c4 = need(call('out-1', 'sip:bob@example.com', 'alice'), 'a call reaches B');
need(connect_call($c4), 'and is answered');
sleep 0.5;
$with_cdr = 0;
ok(reload($yaml3->()), 'a reload without cdr-writer, a call up');
my @r4 = settle($c4->{cid}, 1);
{ my $end = time + 15; @r4 = settle($c4->{cid}, 1) while !@r4 && time < $end }   # the old chain goes within 64*T1
is(join(', ', map { fig($_) } @r4), '200 unfinished proxy-uas', 'its record is written as the old chain goes: unfinished, 200');
ok($r4[0] && defined $r4[0]{start_time} && $r4[0]{duration_s} >= 0.5
   && abs(epoch($r4[0]{stop_time}) - epoch($r4[0]{start_time}) - $r4[0]{duration_s}) < 0.1,
   'with its start and the duration so far');
is(bye_from_a($c4), '200', 'the call still ends with its BYE');
sleep 0.3;
is(scalar(of($c4->{cid})), 1, 'and nothing more is written for it');
is(stop_server($pid), 0, 'clean stop');

# --- 4. sipp: calls up across two reloads -------------------------------------------
# ten calls at 5/s through the b2bua, each held 2 s: two SIGHUPs while
# they are up; every call ends cleanly (sipp on both sides), one record
# per leg, all 200 normal-release
$cdrs = "$dir/sipp.jsonl";
my $scen = "$ENV{PWD}/t/sipp";
my $sbp = free_port();
server_up(sub {
    "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
  . "  timers: { t1: 100, t2: 400, t4: 500 }\n  metrics: { listen: \"127.0.0.1:$mport\" }\n"
  . "modules_path: $mods\nchain:\n  - module: cdr-writer\n    file: $cdrs\n"
  . "  - module: b2bua\n    target: \"sip:bob\@127.0.0.1:$sbp\"\n";
});
my $sb = sipp_start('hold_b', "-sf $scen/uas_answer.xml -m 10 -i 127.0.0.1 -p $sbp");
sleep 0.3;
my $sa = sipp_start('hold_a', "-sf $scen/uac_hold.xml -d 2000 -m 10 -r 5 -l 10 -i 127.0.0.1 -p " . free_port() . " -s bob 127.0.0.1:$port");
sleep 1;
ok(reload(), 'sipp: SIGHUP with calls up');
sleep 1;
ok(reload(), 'sipp: and again');
is(sipp_done($sa), 0, 'sipp: the caller\'s ten calls all ended cleanly (its BYEs answered)') or diag(sipp_output('hold_a'));
is(sipp_done($sb), 0, 'sipp: so did the callee\'s') or diag(sipp_output('hold_b'));
{
    my $end = time + 5;
    sleep 0.1 while scalar(records()) < 20 && time < $end;
}
my @all = records();
my %per;
$per{ $_->{correlation} }++ for @all;
is(scalar(@all) . ' ' . scalar(keys %per) . ' ' . scalar(grep { $_ != 2 } values %per), '20 10 0',
   'sipp: twenty records, two per call (one per leg)');
is(scalar(grep { fig($_) !~ /^200 normal-release b2bua-ua[sc]$/ } @all), 0, 'sipp: every one 200 normal-release');
is(stop_server($pid), 0, 'clean stop');

# --- 5. max_open: calls whose end never comes are not kept for ever ------------------
$cdrs = "$dir/max.jsonl";
server_up(sub {
    "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
  . "  timers: { t1: 100, t2: 400, t4: 500 }\n  metrics: { listen: \"127.0.0.1:$mport\" }\n"
  . "modules_path: $mods\nchain:\n  - module: cdr-writer\n    file: $cdrs\n    max_open: 2\n"
  . "  - module: registrar\n    domains: [ example.com ]\n  - module: proxy\n    record_route: true\n";
});
need(register('bob', 300) eq '200', 'bob registers');
my @mc = map { my $c = need(call("max-$_", 'sip:bob@example.com', 'alice'), 'a call reaches B');
               need(connect_call($c), 'and is answered'); $c } 1 .. 3;
is(join(', ', map { fig($_) } settle('max-1', 1)), '200 unfinished proxy-uas',
   'max_open 2: the third call lets the oldest go, written as it stands (200, unfinished)');
is(scalar(of('max-2')) + scalar(of('max-3')), 0, 'the other two are still open');
is(bye_from_a($mc[1]), '200', 'the second ends');
is(join(', ', map { fig($_) } settle('max-2', 1)), '200 normal-release proxy-uas', 'and is written as such');
is(stop_server($pid), 0, 'clean stop');
is(join(', ', map { fig($_) } settle('max-3', 1)), '200 unfinished proxy-uas', 'the third at stop');
is(scalar(records()), 3, 'one record per call');

done_testing();
