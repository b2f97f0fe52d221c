# The proxy module end to end, with the registrar and cdr-writer: 1000
# sipp calls to a registered sipp callee through it (record-routed) with
# one CDR each; 404 for an AOR without binding; contacts forked by q
# (sequential across q, parallel within one: first busy, second
# answers); a contact behind NAT reached where it registered from; Path
# honoured; static routes; headers added and removed; a BYE from the
# callee along the record-route; a 302 followed; CANCEL mid-ring.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use JSON::PP;
use Time::Local qw(timelocal timegm);
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $mods = module_dir();
my $dir = tmpdir();
my $cdrs = "$dir/cdr.jsonl";
my $port = free_port();
my ($gw, $gwport) = udp_peer();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: cdr-writer
    file: $cdrs
  - module: registrar
    methods: [ REGISTER ]
    domains: [ 127.0.0.1, example.com ]
    min_expires: 1
  - module: proxy
    record_route: true
    follow_redirects: true
    headers: [ "X-Proxied: sipchain" ]
    remove_headers: [ "X-Secret" ]
    routes:
      - user_prefix: "+1"
        targets: [ "sip:gw\@127.0.0.1:$gwport" ]
Y

my $c = udp_client();
my $me = $c->sockport;
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
sub register {
    my ($sock, $user, $contact, @h) = @_;
    my $dom = $user =~ s/\@(.*)// ? $1 : 'example.com';
    $n++;
    my $sp = $sock->sockport;
    my $m = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-reg$n;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:$user\@$dom>\r\nFrom: <sip:$user\@$dom>;tag=r$n\r\n"
          . "Call-ID: reg-$n\r\nCSeq: 1 REGISTER\r\nContact: $contact\r\n" . join('', map { "$_\r\n" } @h)
          . "Content-Length: 0\r\n\r\n";
    $sock->send($m, 0, $to) or die;
    return sip_status(recv_msg($sock, 2));
}
sub invite {
    my ($user, $cid, @h) = @_;
    $user .= '@example.com' unless $user =~ /\@/;
    return "INVITE sip:$user SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-$cid;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:$user>\r\nFrom: <sip:caller\@example.com>;tag=c$cid\r\n"
         . "Call-ID: $cid\r\nCSeq: 1 INVITE\r\nContact: <sip:caller\@127.0.0.1:$me>\r\n" . join('', map { "$_\r\n" } @h)
         . "Content-Length: 0\r\n\r\n";
}
sub answer {
    my ($req, $status, $extra) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $req =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my ($t) = $req =~ /^(To: [^\r]*)\r$/m;
    return $out . "$t;tag=x" . int(rand(1e6)) . "\r\nContact: <sip:x\@127.0.0.1>\r\n" . ($extra // '') . "Content-Length: 0\r\n\r\n";
}
sub final_for { my ($cid, $secs) = @_; my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) { my $r = recv_msg($c, $l) // last; return $r if $r =~ /^SIP\/2\.0 [2-6]/ && sip_header($r, 'Call-ID') eq $cid } return undef }

# 1. 1000 calls to a registered sipp callee
my $uas_port = free_port();
my ($reg) = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0);
# the callee registers as "service" (sipp's -s) from its own address
is(register($reg, 'service@127.0.0.1', "<sip:service\@127.0.0.1:$uas_port>"), '200', 'the callee registered');
my $uas = fork() // die;
if ($uas == 0) {
    exec("cd $dir && exec $sipp -sf $ENV{PWD}/t/sipp/uas_lossy.xml -i 127.0.0.1 -p $uas_port -m 1000 -timeout 60s -timeout_error -nostdin >uas.out 2>&1");
}
sleep 0.3;
my $rc = system("cd $dir && $sipp -sf $ENV{PWD}/t/sipp/proxy_uac.xml -m 1000 -r 50 -l 100 -i 127.0.0.1 -p " . free_port()
                . " -timeout 60s -timeout_error -nostdin -trace_msg -message_file uac.msg -s service 127.0.0.1:$port >uac.out 2>&1") >> 8;
is($rc, 0, 'sipp: 1000 calls INVITE/100/180/200/ACK/BYE through the proxy, zero failed')
    or diag(do { local (@ARGV, $/) = "$dir/uac.out"; <> });
my $end = time + 20;
while (time < $end) { last if waitpid($uas, WNOHANG) == $uas; sleep 0.1 }
is($? >> 8, 0, 'the sipp callee saw 1000 calls complete');
sleep 0.5;
my @r = do { open my $fh, '<', $cdrs or die; map { decode_json($_) } <$fh> };
is(scalar @r, 1000, 'one CDR record per call');
is(scalar(grep { $_->{final_status} == 200 && $_->{reason} eq 'normal-release' && $_->{role} eq 'proxy-uas' && $_->{start_time} } @r),
   1000, 'each answered (200), connected (proxy-uas) and ended by the BYE (normal-release)');
# what sipp did, call by call, from its message trace: the From and To it
# sent, when it sent the INVITE, got the 200, sent the BYE
my %sipp;
{
    open my $fh, '<', "$dir/uac.msg" or die "uac.msg: $!";
    local $/ = "\n-----------------------------------------------";
    while (my $e = <$fh>) {
        my ($y, $mo, $d, $h, $mi, $sec) = $e =~ /^-*\s*(\d+)-(\d+)-(\d+)\s+(\d+):(\d+):(\d+\.\d+)/ or next;
        my $t = timelocal(0, $mi, $h, $d, $mo - 1, $y) + $sec;
        my $cid = sip_header($e, 'Call-ID') or next;
        my $k = $e =~ /message sent[^\n]*\n\s*INVITE / ? 'invite' : $e =~ /message received[^\n]*\n\s*SIP\/2\.0 200[^\n]*\n(?:.*\n)*?CSeq: 1 INVITE/ ? 'ok'
              : $e =~ /message sent[^\n]*\n\s*BYE / ? 'bye' : next;
        $sipp{$cid}{$k} //= $t;
        ($sipp{$cid}{from}, $sipp{$cid}{to}) = (sip_header($e, 'From'), sip_header($e, 'To')) if $k eq 'invite';
    }
}
sub cdr_time { my ($v) = @_; my ($y, $mo, $d, $h, $mi, $s) = ($v // '') =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):([\d.]+)Z$/ or return -1e9;
    return timegm(0, $mi, $h, $d, $mo - 1, $y) + $s }
my @bad;
for my $r (@r) {
    my $s = $sipp{$r->{call_id}} or do { push @bad, "$r->{call_id}: not a call sipp made"; next };
    push @bad, "$r->{call_id}: from/to differ" unless $r->{from} eq $s->{from} && $r->{to} eq $s->{to};
    for ([attempt_time => 'invite'], [start_time => 'ok'], [stop_time => 'bye']) {
        my ($f, $k) = @$_;
        my $dt = cdr_time($r->{$f}) - ($s->{$k} // 1e9);
        push @bad, sprintf("%s: %s %.3f s from sipp's", $r->{call_id}, $f, $dt) if abs($dt) > 0.25;
    }
    my $dur = ($s->{bye} // 0) - ($s->{ok} // 0);
    push @bad, "$r->{call_id}: duration_s $r->{duration_s}, sipp $dur" if abs($r->{duration_s} - $dur) > 0.25;
}
is(scalar(keys %sipp) . ' ' . scalar(@bad), '1000 0', 'every record matches sipp\'s call: Call-ID, From, To, INVITE/200/BYE times, duration')
    or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);

# 2. an AOR without binding
$c->send(invite('nobody', 'nb-1'), 0, $to);
my $f = final_for('nb-1');
is(sip_status($f), '404', 'an AOR without binding: 404');

# 3. fork by q: q 1.0 busy, then both q 0.5 at once (one busy, one answers)
my ($a1, $p1) = udp_peer(); my ($a2, $p2) = udp_peer(); my ($a3, $p3) = udp_peer();
register($a1, 'dave', "<sip:dave\@127.0.0.1:$p1>;q=1.0");
register($a2, 'dave', "<sip:dave\@127.0.0.1:$p2>;q=0.5");
register($a3, 'dave', "<sip:dave\@127.0.0.1:$p3>;q=0.5");
$c->send(invite('dave', 'fk-1', 'X-Secret: s3'), 0, $to);
my $i1 = recv_request($a1, 'INVITE');
ok($i1, 'q 1.0 first');
ok(!defined recv_request($a2, 'INVITE', 0.3), 'the q 0.5 contacts wait');
is(sip_header($i1, 'X-Proxied'), 'sipchain', 'headers: added');
is(sip_header($i1, 'X-Secret'), '', 'and removed');
$a1->send(answer($i1, '486 Busy Here'), 0, $a1->peername);
my $i2 = recv_request($a2, 'INVITE');
my $i3 = recv_request($a3, 'INVITE');
ok($i2 && $i3, 'then both q 0.5 contacts at once');
$a2->send(answer($i2, '486 Busy Here'), 0, $a2->peername) if $i2;
$a3->send(answer($i3, '200 OK'), 0, $a3->peername) if $i3;
is(sip_status(final_for('fk-1')), '200', 'the one that answered wins');

# 4. NAT: the Contact names a private address; it is reached where it registered from
my ($nat, $natport) = udp_peer();
register($nat, 'erin', '<sip:erin@10.99.0.1:5060>');
$c->send(invite('erin', 'nat-1'), 0, $to);
my $in = recv_request($nat, 'INVITE');
like($in // '', qr/^INVITE sip:erin\@10\.99\.0\.1:5060 SIP/, 'behind NAT: the INVITE reaches the address it registered from, Request-URI its Contact');
$nat->send(answer($in, '200 OK'), 0, $nat->peername) if $in;
is(sip_status(final_for('nat-1')), '200', 'and its answer comes back');

# 5. Path: the request goes through the edge proxy the REGISTER came through
my ($edge, $edgeport) = udp_peer();
register($edge, 'frank', '<sip:frank@192.0.2.44:5060>', "Path: <sip:127.0.0.1:$edgeport;lr>");
$c->send(invite('frank', 'path-1'), 0, $to);
my $ie = recv_request($edge, 'INVITE');
ok($ie, 'Path: the INVITE goes to the edge proxy');
is(sip_header($ie, 'Route'), "<sip:127.0.0.1:$edgeport;lr>", 'with the Path as its Route');
$edge->send(answer($ie, '200 OK'), 0, $edge->peername) if $ie;
final_for('path-1');

# 6. a static route
$c->send(invite('+15551234@pstn.example.org', 'st-1'), 0, $to);     # not a registrar domain
my $ig = recv_request($gw, 'INVITE');
like($ig // '', qr/^INVITE sip:\+15551234\@pstn\.example\.org SIP/,
     'user prefix "+1": the static route\'s gateway, the Request-URI unchanged');
is(sip_header($ig, 'Route'), '', 'no Route for a target without lr');
$gw->send(answer($ig, '503 Service Unavailable'), 0, $gw->peername) if $ig;
is(sip_status(final_for('st-1')), '503', 'its answer goes up');

# 7. every contact silent: 480
my ($mute, $muteport) = udp_peer();
register($mute, 'gina', "<sip:gina\@127.0.0.1:$muteport>");
$c->send(invite('gina', 'mute-1'), 0, $to);
is(sip_status(final_for('mute-1', 12)), '480', 'no contact answered: 480');

# sipp peers registered from the port they listen on
sub reg_at { my ($aor, $p) = @_; my ($user) = split /\@/, $aor;
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $p) or die;
    return register($s, $aor, "<sip:$user\@127.0.0.1:$p>") }

# 8. the callee hangs up: its BYE follows the record-route to the caller
my $cp = free_port();
is(reg_at('carl@127.0.0.1', $cp), '200', 'carl registered');
my $callee = sipp_start('carl', "-sf $ENV{PWD}/t/sipp/uas_bye_routed.xml -m 3 -i 127.0.0.1 -p $cp");
sleep 0.3;
my $inf = write_file('byein.csv', "SEQUENTIAL\nproxy;-;0;\n");
my $caller = sipp_start('carl_a', "-sf $ENV{PWD}/t/sipp/dialog_uac_byein.xml -inf $inf -m 3 -r 10 -l 1 -i 127.0.0.1 -p " . free_port() . " -s carl 127.0.0.1:$port");
is(sipp_done($caller), 0, 'sipp caller: 3 calls, each ended by the callee\'s BYE through the proxy') or diag(sipp_output('carl_a'));
is(sipp_done($callee), 0, 'sipp callee: its BYEs answered') or diag(sipp_output('carl'));

# 9. a 302 followed (follow_redirects): the Contact it names answers
my ($rp, $tp) = (free_port(), free_port());
is(reg_at('moved@127.0.0.1', $rp), '200', 'a redirecting callee registered');
my $redir = sipp_start('redir', "-sf $ENV{PWD}/t/sipp/uas_302.xml -m 2 -i 127.0.0.1 -p $rp -key redirect_to sip:service\@127.0.0.1:$tp");
my $real = sipp_start('real', "-sf $ENV{PWD}/t/sipp/uas_lossy.xml -m 2 -i 127.0.0.1 -p $tp");
sleep 0.3;
$caller = sipp_start('moved_a', "-sf $ENV{PWD}/t/sipp/proxy_uac.xml -m 2 -r 10 -l 1 -i 127.0.0.1 -p " . free_port() . " -s moved 127.0.0.1:$port");
is(sipp_done($caller), 0, 'sipp caller: 2 calls completed though the callee redirected') or diag(sipp_output('moved_a'));
is(sipp_done($redir), 0, 'the redirecting callee: INVITE, 302, ACK') or diag(sipp_output('redir'));
is(sipp_done($real), 0, 'the redirect target: answered, ACKed and hung up through the proxy') or diag(sipp_output('real'));

# 10. CANCEL mid-ring: the callee rings, the caller cancels
my $ringp = free_port();
is(reg_at('rita@example.com', $ringp), '200', 'a ringing callee registered');
my $ring = sipp_start('ring', "-sf $ENV{PWD}/t/sipp/uas_ring_cancel.xml -m 1 -i 127.0.0.1 -p $ringp");
sleep 0.3;
my $cinv = invite('rita', 'cx-1');
$c->send($cinv, 0, $to);
my $ringing;
my $until = time + 3;     # (earlier calls' unACKed finals may still come: skip them)
while (time < $until) { my $m = recv_msg($c, 0.5) // next; if ($m =~ /^SIP\/2\.0 180/ && sip_header($m, 'Call-ID') eq 'cx-1') { $ringing = $m; last } }
ok($ringing, 'the caller hears it ring');
(my $cx = $cinv) =~ s/^INVITE /CANCEL /;
$cx =~ s/CSeq: 1 INVITE/CSeq: 1 CANCEL/;
$c->send($cx, 0, $to);
my %got;
$until = time + 3;
while (time < $until && keys %got < 2) { my $m = recv_msg($c, 0.5) // next; $got{sip_header($m, 'CSeq')} = sip_status($m) if sip_header($m, 'Call-ID') eq 'cx-1' && sip_status($m) ge '200' }
is($got{'1 CANCEL'} // '', '200', 'the CANCEL answered');
is($got{'1 INVITE'} // '', '487', 'the INVITE ends 487');
if (($got{'1 INVITE'} // '') eq '487') {
    (my $ack = $cinv) =~ s/^INVITE /ACK /;
    $ack =~ s/CSeq: 1 INVITE/CSeq: 1 ACK/;
    $c->send($ack, 0, $to);
}
is(sipp_done($ring), 0, 'the callee: its 180, the CANCEL passed on, 487 ACKed') or diag(sipp_output('ring'));

# 11. a graceful stop during proxied traffic: every call the proxy saw
# has its record (the caller heard from the proxy about each of them)
my @before = do { open my $fh, '<', $cdrs or die; <$fh> };
my $callee2 = fork() // die;
if ($callee2 == 0) {
    exec("cd $dir && exec $sipp -sf $ENV{PWD}/t/sipp/uas_lossy.xml -i 127.0.0.1 -p $uas_port -m 300 -timeout 8s -timeout_error -nostdin >uas2.out 2>&1");
}
sleep 0.3;
my $caller2 = fork() // die;
if ($caller2 == 0) {
    exec("cd $dir && exec $sipp -sf $ENV{PWD}/t/sipp/proxy_uac.xml -m 300 -r 150 -i 127.0.0.1 -p " . free_port()
         . " -max_retrans 1 -timeout 8s -timeout_error -nostdin -trace_msg -message_file stop.msg -s service 127.0.0.1:$port >uac2.out 2>&1");
}
sleep 1;
is(stop_server($pid), 0, 'stopped during proxied calls');
for my $p ($caller2, $callee2) {        # sipp's -timeout ends them; bounded anyway
    my $until = time + 15;
    sleep 0.1 while time < $until && waitpid($p, WNOHANG) != $p;
    if (time >= $until) { kill 'TERM', $p; waitpid($p, 0) }
}
my @after = do { open my $fh, '<', $cdrs or die; map { decode_json($_) } <$fh> };
my @new = @after[scalar(@before) .. $#after];
my (%sent, %heard);
{
    open my $fh, '<', "$dir/stop.msg" or die "stop.msg: $!";
    local $/ = "\n-----------------------------------------------";
    while (my $e = <$fh>) {
        my $cid = sip_header($e, 'Call-ID') or next;
        $sent{$cid} = 1 if $e =~ /message sent[^\n]*\n\s*INVITE /;
        $heard{$cid} = 1 if $e =~ /message received/;
    }
}
my %rec;
$rec{$_->{call_id}}++ for @new;
my @missing = grep { !$rec{$_} } sort keys %heard;
ok(keys(%heard) > 20, scalar(keys %heard) . ' calls reached the proxy before it stopped');
is(scalar(@missing), 0, 'each has its CDR record') or diag("no record: @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
# (records of earlier sections' calls still open are written at the stop too)
my @odd = grep { $rec{$_} > 1 || (!$sent{$_} && /^\d+-$caller2\@/) } keys %rec;
is(scalar(@odd), 0, 'one record per call, none for a call sipp did not make') or diag("@odd");
done_testing();
