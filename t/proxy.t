# The stateful proxy (RFC 3261 §16, sc_proxy_request) end to end: sipp
# calls through it (record-routed, so ACK and BYE traverse it), also with
# 10% loss on both sides; what the forwarded request carries; sequential
# failover; best response among parallel branches; CANCEL passed down;
# loops refused with 482.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use IO::Socket::INET;
use SipTest;
use Socket qw(pack_sockaddr_in inet_aton);
use POSIX qw(WNOHANG);

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $build = $ENV{SC_BUILD} // 'objs';
my $mods = module_dir();
my $dir = tmpdir();

sub proxy {
    my ($conf) = @_;
    my $port = free_port();
    my @r = start_server(port => $port, yaml => "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n"
                                              . "  log: { level: debug }\n  timers: { t1: 100, t2: 400, t4: 500 }\n"
                                              . "modules_path: $mods\nchain:\n  - module: t_proxy\n$conf");
    return @r;
}

# 1. sipp UAC -> proxy -> sipp UAS, record-routed, clean and with 10% loss
for my $lost (0, 10) {
    my $uas_port = free_port();
    my ($pid, $port, $log) = proxy("    record_route: true\n    targets: [ \"sip:service\@127.0.0.1:$uas_port\" ]\n");
    my $n = $lost ? 30 : 50;
    my $loss = $lost ? "-lost $lost" : '';
    my $uas = fork() // die;
    if ($uas == 0) {
        exec("cd $dir && exec $sipp -sf $ENV{PWD}/t/sipp/uas_lossy.xml -i 127.0.0.1 -p $uas_port -m $n $loss -timeout 60s -timeout_error "
           . "-nostdin >uas-$lost.out 2>&1");
    }
    sleep 0.3;
    my $rc = system("cd $dir && $sipp -sf $ENV{PWD}/t/sipp/proxy_uac.xml -m $n -r 10 -l 20 $loss -i 127.0.0.1 "
                  . "-p " . free_port() . " -timeout 60s -timeout_error -nostdin -s service 127.0.0.1:$port "
                  . ">uac-$lost.out 2>&1");
    my $deadline = time + 30;
    my $done = 0;
    while (time < $deadline) { last if ($done = waitpid($uas, WNOHANG)) == $uas; sleep 0.1 }
    if ($done != $uas) { kill 'TERM', $uas; waitpid($uas, 0) }
    my $uas_rc = $? >> 8;
    if (!$lost) {
        is($rc >> 8, 0, "sipp: $n calls INVITE/180/200/ACK/BYE through the proxy")
            or diag(do { local (@ARGV, $/) = "$dir/uac-$lost.out"; <> });
        is($uas_rc, 0, 'the sipp UAS saw every call complete (ACK and BYE reached it)');
    } else {
        # about one run in five, one call of 30 fails on sipp's side: once
        # the sipp caller has moved on to its BYE it no longer ACKs a
        # retransmitted 200 (it takes it for the BYE's 200), so when its
        # ACK and BYE are both lost the sipp callee gives up.  A scenario
        # that waits for both at once is not expressible in sipp: two such
        # calls are allowed, every other must complete
        my $ok = sub { my $t = do { local (@ARGV, $/) = "$dir/$_[0]-$lost.out"; <> } // '';
                       return $t =~ /Successful call\s*\|[^|]*\|\s*(\d+)/ ? $1 : 0 };
        cmp_ok($ok->('uac'), '>=', $n - 2, "sipp: calls INVITE/180/200/ACK/BYE through the proxy with $lost% loss")
            or diag(do { local (@ARGV, $/) = "$dir/uac-$lost.out"; <> });
        cmp_ok($ok->('uas'), '>=', $n - 2, 'the sipp UAS saw those calls complete (ACK and BYE reached it)');
    }
    is(stop_server($pid), 0, 'stopped');
    next if $lost;
    my $text = do { local (@ARGV, $/) = $log; <> };
    my %n;
    $n{$1}++ while $text =~ /(cdr:attempt source=network|cdr:start source=application role=proxy-uas|cdr:stop source=network role=- reason=normal-release)/g;
    is($n{'cdr:attempt source=network'}, $n, "$n cdr:attempt");
    is($n{'cdr:start source=application role=proxy-uas'}, $n, "$n cdr:start as proxy-uas (the 200 relayed)");
    is($n{'cdr:stop source=network role=- reason=normal-release'}, $n, "$n cdr:stop normal-release (the BYE relayed)");
}

# raw peers for the rest
my $c = udp_client();
my $me = $c->sockport;
sub invite {
    my ($port, %h) = @_;
    my $b = $h{branch} // 'z9hG4bK-' . int(rand(1e9));
    my $m = $h{method} // 'INVITE';
    return "$m sip:bob\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=$b;rport\r\n"
         . "Max-Forwards: " . ($h{mf} // 70) . "\r\nTo: <sip:bob\@127.0.0.1>\r\nFrom: <sip:a\@127.0.0.1>;tag=fa\r\n"
         . "Call-ID: " . ($h{cid} // int(rand(1e9)) . '@proxy') . "\r\nCSeq: 1 $m\r\nContact: <sip:a\@127.0.0.1:$me>\r\n"
         . "Content-Length: 0\r\n\r\n";
}
sub answer {
    my ($req, $sl, $extra) = @_;
    my $out = "SIP/2.0 $sl\r\n";
    $out .= "Via: $_\r\n" for $req =~ /^Via: ([^\r]*)\r$/mg;
    for my $h (qw(From To Call-ID CSeq)) {
        my $v = sip_header($req, $h);
        $v .= ';tag=callee' if $h eq 'To' && $sl !~ /^100/;
        $out .= "$h: $v\r\n";
    }
    return $out . ($extra // '') . "Content-Length: 0\r\n\r\n";
}
# the next $method a peer gets (ACKs of earlier branches may come first)
sub recv_req { my ($s, $method) = @_; for (1 .. 5) { my $r = recv_msg($s, 2); return $r if !defined $r || $r =~ /^$method /; } return undef }
sub to_proxy { my ($port, $m) = @_; $c->send($m, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die }
# the final answers to call $cid within $secs (retransmissions of earlier
# calls' answers are not ours to look at)
sub finals { my ($secs, $cid) = @_; my @f; my $end = time + $secs;
    while ((my $l = $end - time) > 0) { my $r = recv_msg($c, $l); last unless defined $r;
        push @f, $r unless sip_status($r) =~ /^1/ || (defined $cid && sip_header($r, 'Call-ID') ne $cid) }
    return @f }

# 2. what the forwarded request carries; sequential failover
my ($p1, $p1port) = udp_peer();
my ($p2, $p2port) = udp_peer();
my ($pid, $port, $plog) = proxy("    record_route: true\n    targets: [ \"sip:bob\@127.0.0.1:$p1port\", \"sip:bob\@127.0.0.1:$p2port\" ]\n");
to_proxy($port, invite($port, mf => 10));
my $r1 = recv_msg($p1, 2);
like($r1, qr{^INVITE sip:bob\@127\.0\.0\.1:$p1port SIP/2\.0\r$}m, 'the first target gets the INVITE, retargeted');
is(sip_header($r1, 'Max-Forwards'), '9', 'Max-Forwards decremented');
like($r1, qr{\AINVITE [^\r]*\r\nVia: SIP/2\.0/UDP 127\.0\.0\.1:$port;branch=z9hG4bKsc\w+;rport\r\nVia: SIP/2\.0/UDP 127\.0\.0\.1:$me;}, 'our Via on top of the caller\'s');
is(sip_header($r1, 'Record-Route'), "<sip:127.0.0.1:$port;transport=udp;lr>", 'Record-Route names us');
$p1->send(answer($r1, '503 Service Unavailable'), 0, $p1->peername);
my $r2 = recv_msg($p2, 2);
ok($r2 && $r2 =~ /^INVITE sip:bob\@127\.0\.0\.1:$p2port /, 'after a 503 the next target is tried (sequential)');
$p2->send(answer($r2, '180 Ringing'), 0, $p2->peername);
my $prov = recv_msg($c, 2);
is(sip_status($prov) eq '100' ? sip_status(recv_msg($c, 2)) : sip_status($prov), '180', 'the 180 is relayed');
$p2->send(answer($r2, '200 OK'), 0, $p2->peername);
my ($ok) = finals(1);
is(sip_status($ok), '200', 'the 200 is relayed');
unlike($ok, qr/branch=z9hG4bKsc/, 'without our Via');
is(stop_server($pid), 0, 'stopped');
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }
like(slurp($plog), qr{t_proxy: attempt sip:bob\@127\.0\.0\.1:$p1port 503 Service Unavailable\n.*t_proxy: attempt sip:bob\@127\.0\.0\.1:$p2port 200 OK\n}s,
     'per-attempt results: the first target\'s 503, then the second\'s 200');

# provisional timeout (sequential: a silent target is passed over) and
# final timeout (what still rings is cancelled)
($p1, $p1port) = udp_peer();
($p2, $p2port) = udp_peer();
($pid, $port, $plog) = proxy("    provisional_timeout: 1\n    final_timeout: 3\n"
                             . "    targets: [ \"sip:bob\@127.0.0.1:$p1port\", \"sip:bob\@127.0.0.1:$p2port\" ]\n");
my $t0 = time;
to_proxy($port, invite($port, cid => 'tmo-1'));
ok(recv_req($p1, 'INVITE'), 'the first target gets the INVITE and stays silent');
$r2 = recv_req($p2, 'INVITE');
my $waited = time - $t0;
ok($r2 && $waited >= 0.9 && $waited < 2.5, "no provisional within 1 s: the second target tried (after ${waited}s)");
$p2->send(answer($r2, '180 Ringing'), 0, $p2->peername) if $r2;
my $cx = recv_req($p2, 'CANCEL') // recv_req($p2, 'CANCEL');
$waited = time - $t0;
ok($cx && $waited >= 2.8, "final timeout: what rings is cancelled (after ${waited}s)");
if ($cx) {
    $p2->send(answer($cx, '200 OK'), 0, $p2->peername);
    $p2->send(answer($r2, '487 Request Terminated'), 0, $p2->peername);
}
my ($tf) = finals(2, 'tmo-1');
is(sip_status($tf), '408', 'the caller gets 408 Request Timeout');
is(stop_server($pid), 0, 'stopped');
like(slurp($plog), qr{attempt sip:bob\@127\.0\.0\.1:$p1port 408 Request Timeout\n.*attempt sip:bob\@127\.0\.0\.1:$p2port 487 }s,
     'per-attempt results: 408 for the silent one, 487 for the cancelled one');

# follow_redirects: a 302's Contact becomes the next target; without it
# the 302 goes up
for my $follow (1, 0) {
    ($p1, $p1port) = udp_peer();
    ($p2, $p2port) = udp_peer();
    ($pid, $port) = proxy("    follow_redirects: " . ($follow ? 'true' : 'false')
                          . "\n    targets: [ \"sip:bob\@127.0.0.1:$p1port\" ]\n");
    my $cid = "redir-$follow-" . int(rand(1e9));
    to_proxy($port, invite($port, cid => $cid));
    $r1 = recv_msg($p1, 2);
    $p1->send(answer($r1, '302 Moved Temporarily', "Contact: <sip:carol\@127.0.0.1:$p2port>\r\n"), 0, $p1->peername);
    if ($follow) {
        $r2 = recv_req($p2, 'INVITE');
        like($r2 // '', qr/^INVITE sip:carol\@127\.0\.0\.1:$p2port /, 'follow_redirects: the 302\'s Contact gets the INVITE');
        $p2->send(answer($r2, '200 OK'), 0, $p2->peername) if $r2;
        is(sip_status((finals(1, $cid))[0]), '200', 'and its 200 goes up, not the 302');
    } else {
        my @f = finals(1, $cid);
        is(sip_status($f[0]), '302', 'without follow_redirects the 302 goes up');
        like($f[0] // '', qr/^Contact: <sip:carol\@/m, 'with its Contact');
    }
    is(stop_server($pid), 0, 'stopped');
    1 while recv_msg($c, 0.1);      # the 302 resent while it was not ACKed
}

# 3. parallel: a 6xx beats a 486; 401 and 407 challenges are merged
($p1, $p1port) = udp_peer();
($p2, $p2port) = udp_peer();
($pid, $port) = proxy("    parallel: true\n    targets: [ \"sip:bob\@127.0.0.1:$p1port\", \"sip:bob\@127.0.0.1:$p2port\" ]\n");
to_proxy($port, invite($port));
$r1 = recv_msg($p1, 2);
$r2 = recv_msg($p2, 2);
ok($r1 && $r2, 'both targets get it at once');
$p1->send(answer($r1, '486 Busy Here'), 0, $p1->peername);
$p2->send(answer($r2, '603 Decline'), 0, $p2->peername);
is(sip_status((finals(1))[0]), '603', 'best response: the 6xx');
to_proxy($port, invite($port, method => 'MESSAGE', cid => 'msg-1'));
$r1 = recv_req($p1, 'MESSAGE');
$r2 = recv_req($p2, 'MESSAGE');
$p1->send(answer($r1, '401 Unauthorized', "WWW-Authenticate: Digest realm=\"one\", nonce=\"1\"\r\n"), 0, $p1->peername);
$p2->send(answer($r2, '407 Proxy Authentication Required', "Proxy-Authenticate: Digest realm=\"two\", nonce=\"2\"\r\n"), 0, $p2->peername);
my ($ch) = finals(1, 'msg-1');
like(sip_status($ch), qr/^40[17]$/, 'a challenge goes up');
ok($ch =~ /realm="one"/ && $ch =~ /realm="two"/, 'carrying both challenges (§16.7 step 7)');
is(stop_server($pid), 0, 'stopped');

# 4. CANCEL passed down; the 487 comes back up
($p1, $p1port) = udp_peer();
($pid, $port) = proxy("    targets: [ \"sip:bob\@127.0.0.1:$p1port\" ]\n");
my $cid = 'c-' . int(rand(1e9));
to_proxy($port, invite($port, branch => 'z9hG4bK-cx', cid => $cid));
$r1 = recv_msg($p1, 2);
$p1->send(answer($r1, '180 Ringing'), 0, $p1->peername);
recv_msg($c, 1) for 1 .. 2;     # 100, 180
to_proxy($port, invite($port, branch => 'z9hG4bK-cx', cid => $cid, method => 'CANCEL'));
my $cancel = recv_msg($p1, 2);
like($cancel, qr{^CANCEL sip:bob\@127\.0\.0\.1:$p1port SIP/2\.0\r$}m, 'the CANCEL goes down');
is(sip_header($cancel, 'Via'), sip_header($r1, 'Via'), 'on the INVITE\'s branch');
$p1->send(answer($cancel, '200 OK'), 0, $p1->peername);
$p1->send(answer($r1, '487 Request Terminated'), 0, $p1->peername);
my %got = map { sip_header($_, 'CSeq') => sip_status($_) } finals(1);
is($got{'1 CANCEL'}, '200', 'the CANCEL got 200 from us');
is($got{'1 INVITE'}, '487', 'the caller gets the 487');
is(stop_server($pid), 0, 'stopped');

# 5. a loop: the proxy as its own target
my $lport = free_port();
($pid) = start_server(port => $lport, yaml => "server:\n  listen: [ \"udp:127.0.0.1:$lport\" ]\n"
                                         . "modules_path: $mods\nchain:\n  - module: t_proxy\n"
                                         . "    targets: [ \"sip:bob\@127.0.0.1:$lport\" ]\n");
to_proxy($lport, invite($lport, method => 'OPTIONS', cid => 'loop-1'));
is(sip_status((finals(2, 'loop-1'))[0]), '482', 'a request coming back to us gets 482 Loop Detected');
is(stop_server($pid), 0, 'stopped');
done_testing();
