# Calls ring as long as the phone rings (issue 18 points 2 and 13): the
# core's request timeout never ends an INVITE handed to the proxy or to a
# B2BUA leg; the INVITE client transaction's timers do (timer B: 408,
# timer C: CANCEL, then 408), and whatever gives up on a forwarded INVITE
# CANCELs it (timer C, A's leg failing, stop).  A reload does not: a call
# ringing on the old chain finishes there.  Through the B2BUA, B's 2xx
# waits for A's PRACK of a reliable 183 with SDP (RFC 3262 §3), and too
# brief a Session-Expires gets 422 with Min-SE (RFC 4028).
#
#  1. default config: a call through the proxy and one through the b2bua
#     ring 60 s, are answered and complete (sipp, both at once, while the
#     rest runs);
#  2. proxy (request_timeout 2 s, T1 100 ms): a next hop that never
#     answers gives 408 (timer B, 6.4 s), not 500; a ringing one gets
#     CANCEL at timer C (final_timeout 4 s) and the caller 408; one that
#     ignores the CANCEL: the caller gets 408 64*T1 after it (§9.1);
#  3. b2bua, the same three (final_timeout 8 s), and A answered with a
#     failure (no PRACK for a reliable 183 within 64*T1, 6.4 s: 500)
#     while B rings: B gets CANCEL;
#  4. sipp through the b2bua: A slow to PRACK a reliable 183 with SDP
#     gets B's 200 only after its PRACK's; Session-Expires 60 gets 422
#     with Min-SE 90, the INVITE again with 90 gets the call;
#  5. reload to a chain without the proxy while two calls ring through
#     it: one is answered after the request timeout and its 200 reaches
#     the caller (requests in flight finish on the chain they started
#     on); then a call rings through the new chain's b2bua, and SIGTERM
#     CANCELs both what rings on the old chain and the B leg.
# Sections 2-5 run while the calls of section 1 ring.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $mods = module_dir();
my $scen = "$ENV{PWD}/t/sipp";
sub addr { pack_sockaddr_in($_[0], inet_aton('127.0.0.1')) }

# --- 1. the long rings, with the default config ------------------------------
my ($pp, $bp, $b1, $b2) = map { free_port() } 1 .. 4;
my ($ppid, undef, $plog) = start_server(port => $pp, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$pp" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: proxy
    record_route: true
    routes: [ { user_prefix: ring, targets: [ "sip:ring\@127.0.0.1:$b1" ] } ]
Y
my ($bpid, undef, $blog) = start_server(port => $bp, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$bp" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: b2bua
    target: "sip:ring\@127.0.0.1:$b2"
Y
my $t0 = time;
my $sb1 = sipp_start('b1', "-sf $scen/uas_ring_long.xml -d 60000 -m 1 -i 127.0.0.1 -p $b1", 100);
my $sb2 = sipp_start('b2', "-sf $scen/uas_ring_long.xml -d 60000 -m 1 -i 127.0.0.1 -p $b2", 100);
sleep 0.3;
my $sa1 = sipp_start('a1', "-sf $scen/proxy_uac.xml -m 1 -i 127.0.0.1 -p " . free_port() . " -s ring 127.0.0.1:$pp", 100);
my $sa2 = sipp_start('a2', "-sf $scen/proxy_uac.xml -m 1 -i 127.0.0.1 -p " . free_port() . " -s ring 127.0.0.1:$bp", 100);

# --- raw peers ------------------------------------------------------------------
my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n";
my $seq = 0;
# Sends an INVITE for user to the server on port; returns its text.
sub invite {
    my ($sock, $port, $user, @h) = @_;
    $seq++;
    my $sp = $sock->sockport;
    my $m = "INVITE sip:$user\@127.0.0.1:$port SIP/2.0\r\n"
          . "Via: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-ring$seq-$$;rport\r\nMax-Forwards: 70\r\n"
          . "To: <sip:$user\@127.0.0.1>\r\nFrom: <sip:caller\@127.0.0.1>;tag=f$seq\r\n"
          . "Call-ID: ring-$seq-$$\r\nCSeq: 1 INVITE\r\nContact: <sip:caller\@127.0.0.1:$sp>\r\n"
          . join('', map { "$_\r\n" } @h)
          . "Content-Type: application/sdp\r\nContent-Length: " . length($sdp) . "\r\n\r\n$sdp";
    $sock->send($m, 0, addr($port)) or die "send: $!";
    return $m;
}
# Answers request r (on socket s, to the server on port).
sub reply {
    my ($s, $port, $r, $status, %o) = @_;
    return unless $r;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $r =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my $to = sip_header($r, 'To');
    $to .= ";tag=$o{tag}" if $o{tag} && $to !~ /tag=/;
    my $body = $o{body} // '';
    $out .= "To: $to\r\nContact: <sip:b\@127.0.0.1:" . $s->sockport . ">\r\n"
          . join('', map { "$_\r\n" } @{ $o{headers} // [] })
          . ($body ne '' ? "Content-Type: application/sdp\r\n" : '')
          . "Content-Length: " . length($body) . "\r\n\r\n$body";
    $s->send($out, 0, addr($port));
}
# The first response on s whose status matches re, within secs.
sub recv_status {
    my ($s, $re, $secs) = @_;
    my $end = time + $secs;
    while ((my $l = $end - time) > 0) {
        my $r = recv_msg($s, $l) // return undef;
        return $r if sip_status($r) =~ $re;
    }
    return undef;
}
sub final { recv_status($_[0], qr/^[2-6]/, $_[1]) }
# A callee's side of a CANCEL: 200 for it, 487 for the INVITE.
sub cancelled {
    my ($s, $port, $inv, $secs) = @_;
    my $c = recv_request($s, 'CANCEL', $secs);
    if ($c) {
        reply($s, $port, $c, '200 OK');
        reply($s, $port, $inv, '487 Request Terminated', tag => 'b');
    }
    return $c;
}

# --- 2. the proxy: timer B and timer C ------------------------------------------
my $sp = free_port();
my ($dead, $deadp) = udp_peer();       # a next hop that never answers
my ($p1, $p1p) = udp_peer();
my ($p7, $p7p) = udp_peer();           # rings, then ignores the CANCEL
my ($spid) = start_server(port => $sp, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$sp" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  limits: { request_timeout: 2 }
modules_path: $mods
chain:
  - module: proxy
    final_timeout: 4
    routes:
      - { user_prefix: dead, targets: [ "sip:dead\@127.0.0.1:$deadp" ] }
      - { user_prefix: tc, targets: [ "sip:tc\@127.0.0.1:$p1p" ] }
      - { user_prefix: deaf, targets: [ "sip:deaf\@127.0.0.1:$p7p" ] }
Y
my ($a1, $a2, $a9) = (udp_client(), udp_client(), udp_client());
my $t = time;
invite($a1, $sp, 'dead');
invite($a2, $sp, 'tc');
invite($a9, $sp, 'deaf');
my $inv = recv_request($p1, 'INVITE', 3);
reply($p1, $sp, $inv, '180 Ringing', tag => 'b');
reply($p7, $sp, recv_request($p7, 'INVITE', 3), '180 Ringing', tag => 'b');
my $c = cancelled($p1, $sp, $inv, 8);
ok($c, 'proxy: timer C (final_timeout 4 s) CANCELs the ringing branch');
cmp_ok(time - $t, '>=', 3.5, 'not before final_timeout, past the request timeout');
my $r = final($a2, 3);
is(sip_status($r), '408', 'and the caller gets 408, not 500');
$r = final($a1, 8);
is(sip_status($r), '408', 'proxy: a next hop that never answers: 408 (timer B), not 500');
ok(recv_request($p7, 'CANCEL', 3), 'proxy: a branch that ignores it gets the CANCEL too');
is(sip_status(final($a9, 9)), '408', 'and its caller 408 64*T1 after the CANCEL (RFC 3261 9.1)');
is(stop_server($spid), 0, 'proxy server stopped');

# --- 3. the b2bua: timer B, timer C, A's leg failing ------------------------------
my $tp = free_port();
my ($dead2, $dead2p) = udp_peer();
my ($p5, $p5p) = udp_peer();
my ($p6, $p6p) = udp_peer();
my ($p8, $p8p) = udp_peer();
my ($rb, $seb) = (free_port(), free_port());    # sipp callees for section 5
my ($tpid, undef, $tlog) = start_server(port => $tp, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$tp" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  limits: { request_timeout: 2 }
modules_path: $mods
chain:
  - module: b2bua
    final_timeout: 8
    routes:
      - { user_prefix: dead, targets: [ "sip:dead\@127.0.0.1:$dead2p" ] }
      - { user_prefix: tc, targets: [ "sip:tc\@127.0.0.1:$p5p" ] }
      - { user_prefix: np, targets: [ "sip:np\@127.0.0.1:$p6p" ] }
      - { user_prefix: deaf, targets: [ "sip:deaf\@127.0.0.1:$p8p" ] }
      - { user_prefix: rel, targets: [ "sip:rel\@127.0.0.1:$rb" ] }
      - { user_prefix: se, targets: [ "sip:se\@127.0.0.1:$seb" ] }
Y
my ($a6, $a7, $a8, $a10) = (udp_client(), udp_client(), udp_client(), udp_client());
$t = time;
invite($a6, $tp, 'dead');
invite($a7, $tp, 'tc');
invite($a8, $tp, 'np', 'Supported: 100rel');
invite($a10, $tp, 'deaf');
reply($p8, $tp, recv_request($p8, 'INVITE', 3), '180 Ringing', tag => 'b');
my $inv5 = recv_request($p5, 'INVITE', 3);
reply($p5, $tp, $inv5, '180 Ringing', tag => 'b');
my $inv6 = recv_request($p6, 'INVITE', 3);
reply($p6, $tp, $inv6, '183 Session Progress', tag => 'b', body => $sdp, headers => [ 'Require: 100rel', 'RSeq: 1' ]);
reply($p6, $tp, recv_request($p6, 'PRACK', 2), '200 OK');
my $rel = recv_status($a8, qr/^183$/, 3);
like($rel // '', qr/^RSeq: \d+\r$/m, 'b2bua: A gets B\'s 183 reliably');
$c = cancelled($p5, $tp, $inv5, 12);
ok($c, 'b2bua: timer C (final_timeout 8 s) CANCELs B');
cmp_ok(time - $t, '>=', 7.5, 'not before final_timeout, past the request timeout');
is(sip_status(final($a7, 3)), '408', 'and A gets 408, not 500');
$c = cancelled($p6, $tp, $inv6, 8);
ok($c, 'b2bua: A answered with a failure (no PRACK within 64*T1) while B rings: B gets CANCEL');
$r = final($a8, 3);
is(sip_status($r), '500', 'A got 500 for the PRACK that never came');
like($r // '', qr/No PRACK/, 'saying why');
is(sip_status(final($a6, 8)), '408', 'b2bua: B never answers: A gets 408 (timer B), not 500');
ok(recv_request($p8, 'CANCEL', 3), 'b2bua: a B that ignores it gets the CANCEL too (timer C)');
is(sip_status(final($a10, 9)), '408', 'and A 408 64*T1 after the CANCEL (RFC 3261 9.1)');

# --- 4. sipp through the b2bua: A slow to PRACK; too brief a Session-Expires ------
my $srb = sipp_start('rb', "-sf $scen/uas_100rel.xml -m 1 -i 127.0.0.1 -p $rb");
my $sse = sipp_start('seb', "-sf $scen/uas_answer.xml -m 1 -i 127.0.0.1 -p $seb");
sleep 0.3;
my $sra = sipp_start('ra', "-sf $scen/uac_prack_slow.xml -m 1 -i 127.0.0.1 -p " . free_port() . " -s rel 127.0.0.1:$tp");
my $ssa = sipp_start('sea', "-sf $scen/uac_se_small.xml -m 1 -i 127.0.0.1 -p " . free_port() . " -s se 127.0.0.1:$tp");
is(sipp_done($sra), 0, 'sipp A slow to PRACK: B\'s 200 only after its PRACK\'s, then ACK, BYE') or diag(sipp_output('ra'));
is(sipp_done($srb), 0, 'sipp B: reliable 183 + SDP PRACKed, 200, ACK, BYE') or diag(sipp_output('rb'));
like(wait_log($tlog, qr/held until A PRACKs/), qr/held until A PRACKs/, 'the b2bua held B\'s 200 for the PRACK');
is(sipp_done($ssa), 0, 'sipp A: Session-Expires 60 got 422 with Min-SE 90; with 90 the call, its 200 saying 90') or diag(sipp_output('sea'));
is(sipp_done($sse), 0, 'sipp B: called once (for the INVITE with 90)') or diag(sipp_output('seb'));
is(stop_server($tpid), 0, 'b2bua server stopped');

# --- 5. reload while ringing, then stop while ringing -----------------------------
my $rp = free_port();
my ($p2, $p2p) = udp_peer();
my ($p3, $p3p) = udp_peer();
my ($p4, $p4p) = udp_peer();
my $base = <<Y;
server:
  listen: [ "udp:127.0.0.1:$rp" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  limits: { request_timeout: 2, stop_timeout: 2 }
modules_path: $mods
Y
my ($rpid, undef, $rlog) = start_server(port => $rp, yaml => $base . <<Y);
chain:
  - module: proxy
    routes:
      - { user_prefix: rl, targets: [ "sip:rl\@127.0.0.1:$p2p" ] }
      - { user_prefix: st, targets: [ "sip:st\@127.0.0.1:$p3p" ] }
Y
my ($a3, $a4, $a5) = (udp_client(), udp_client(), udp_client());
invite($a3, $rp, 'rl');
invite($a4, $rp, 'st');
my $inv2 = recv_request($p2, 'INVITE', 3);
reply($p2, $rp, $inv2, '180 Ringing', tag => 'b');
my $rang = time;
my $inv3 = recv_request($p3, 'INVITE', 3);
reply($p3, $rp, $inv3, '180 Ringing', tag => 'b');
write_file("sipchain-$rp.yaml", $base . <<Y);
chain:
  - module: b2bua
    target: "sip:b2b\@127.0.0.1:$p4p"
Y
kill 'HUP', $rpid;
like(wait_log($rlog, qr/reloaded/), qr/reloaded/, 'reloaded to a chain without the proxy');
invite($a5, $rp, 'new');
my $inv4 = recv_request($p4, 'INVITE', 3);
ok($inv4, 'a new call goes to the new chain\'s b2bua');
reply($p4, $rp, $inv4, '180 Ringing', tag => 'b');
sleep(3 - (time - $rang)) if time - $rang < 3;
reply($p2, $rp, $inv2, '200 OK', tag => 'b', body => $sdp);
$r = final($a3, 3);
is(sip_status($r), '200', 'reload: the call ringing on the old chain past the request timeout is answered: 200');
ok(!recv_request($p2, 'CANCEL', 0.2), 'and was never cancelled');
ok(!final($a4, 0.2), 'the other still rings on the old chain');
kill 'TERM', $rpid;
ok(recv_request($p3, 'CANCEL', 3), 'stop: the proxied branch still ringing on the old chain gets CANCEL');
ok(recv_request($p4, 'CANCEL', 3), 'stop: the b2bua\'s B leg ringing on the new chain gets CANCEL');
is(sip_status(final($a4, 5)), '503', 'their callers get 503 as the server stops');
is(sip_status(final($a5, 1)), '503', 'both of them');
is(stop_server($rpid), 0, 'stopped cleanly');

# --- 1. the long rings end ----------------------------------------------------------
is(sipp_done($sa1, 100), 0, 'proxy, default config: rang 60 s, answered, ACK and BYE') or diag(sipp_output('a1'));
is(sipp_done($sb1, 100), 0, 'its callee: never cancelled, ACK and BYE came') or diag(sipp_output('b1'));
is(sipp_done($sa2, 100), 0, 'b2bua, default config: rang 60 s, answered, ACK and BYE') or diag(sipp_output('a2'));
is(sipp_done($sb2, 100), 0, 'its B: never cancelled, ACK and BYE came') or diag(sipp_output('b2'));
cmp_ok(time - $t0, '>=', 59, 'after a minute of ringing');
my $logs = join '', map { do { local (@ARGV, $/) = $_; <> } // '' } $plog, $blog;
unlike($logs, qr/answering 500/, 'no request timeout in either');
is(stop_server($ppid), 0, 'proxy server stopped');
is(stop_server($bpid), 0, 'b2bua server stopped');
done_testing();
