# drachtio-srf applications (t/drachtio/dialog_app.js, the pinned srf)
# against sipchain where dialog behaviour must match drachtio-server's
# (issue 21, points 1-4), with sipp or raw UDP peers:
#  1. a reliable 180 without Contact is PRACKed (to the Request-URI)
#     and the call proceeds;
#  2. the ACK of a re-INVITE's 2xx reaches srf's res.send(..., fnAck),
#     with and without SDP in the re-INVITE;
#  3. session timers (RFC 4028 9-10): refresher=uac asked without
#     Supported: timer is kept, sipchain does not refresh, and sends BYE
#     when the caller stops; a 200 carrying the app's own Session-Expires
#     is watched the same way; the 2xx to the app's UPDATE sets the timer
#     anew; a refresh of sipchain's that fails ends the call at expiry;
#     as UAC, a callee that is the refresher and does not refresh gets a
#     BYE;
#  4. a Contact the app gives as a bare addr-spec goes out as <uri>, and a
#     peer that takes the target from <...> reaches the dialog with it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;
use NodeApp;

node_bin();
BAIL_OUT('drachtio-srf not installed: run scripts/install-deps.sh')
    unless -d 't/drachtio/node_modules/drachtio-srf';
my $mods = module_dir();
my $dir = tmpdir();
my $scen = "$ENV{PWD}/t/sipp";
my $port = free_port();
my $ctl = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  session_timers: { expires: 1800, min_se: 2 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctl"
    secret: cymru
Y
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));

sub app_start { my ($name, @args) = @_;
    return node_app($name, script => 'dialog_app.js', args => \@args, ready => qr/^CONNECTED/m, ready_secs => 10) }
# the first response to method within secs whose status is at least min
sub recv_resp {
    my ($s, $method, $min, $secs) = @_;
    my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) {
        my $m = recv_msg($s, $l) // return undef;
        return $m if sip_status($m) ne 'none' && sip_status($m) >= $min && sip_header($m, 'CSeq') =~ / \Q$method\E$/;
    }
    return undef;
}
my ($u, $up) = udp_peer();
my $sdp = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n";
# a request of the raw caller; ruri defaults to sip:USER@us
sub req {
    my (%o) = @_;
    my $body = $o{body} // '';
    my $ruri = $o{ruri} // "sip:$o{user}\@127.0.0.1:$port";
    return "$o{method} $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-$o{branch};rport\r\n"
         . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=a-$o{cid}\r\nTo: <sip:$o{user}\@x>"
         . ($o{totag} ? ";tag=$o{totag}" : '') . "\r\nCall-ID: $o{cid}\r\nCSeq: $o{cseq} $o{method}\r\n"
         . "Contact: <sip:a\@127.0.0.1:$up>\r\n" . join('', map { "$_\r\n" } @{ $o{hdrs} // [] })
         . ($body ne '' ? "Content-Type: application/sdp\r\n" : '') . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
sub answer_req {     # 200 to a request sipchain sent us
    my ($r) = @_;
    my $ok = "SIP/2.0 200 OK\r\n" . join('', map { "$_\r\n" } grep { /^(Via|From|To|Call-ID|CSeq):/i } split /\r\n/, $r)
           . "Content-Length: 0\r\n\r\n";
    $u->send($ok, 0, $to);
}

my $uas = app_start('uas', 'uas', "127.0.0.1:$ctl");

# --- 4 and 2: Contact in name-addr form; the re-INVITE's ACK reaches fnAck ---------------
$u->send(req(method => 'INVITE', user => 'reinv', cid => 'rv-1', branch => 'r1', cseq => 1, body => $sdp), 0, $to);
my $resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_status($resp), 200, 'a call to the app: 200') or diag(app_log('uas'));
like(sip_header($resp, 'Contact'), qr/^<sip:dlg\@127\.0\.0\.1:$port>$/,
     'the app\'s bare "sip:dlg@localhost" Contact goes out as <sip:dlg@127.0.0.1:port>');
my ($target) = ($resp // '') =~ /^Contact: [^<\r]*<([^>]*)>/m;    # as a <...>-reading peer takes it
my ($ttag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send(req(method => 'ACK', user => 'reinv', cid => 'rv-1', branch => 'r1a', cseq => 1, totag => $ttag,
             ruri => $target), 0, $to);
ok(app_wait('uas', qr/^UAS-DIALOG reinv/m), 'srf: the dialog');
# a re-INVITE without SDP: the app offers in its 200, the ACK answers
$u->send(req(method => 'INVITE', user => 'reinv', cid => 'rv-1', branch => 'r2', cseq => 2, totag => $ttag,
             ruri => $target), 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_status($resp), 200, 're-INVITE without SDP: 200') or diag(app_log('uas'));
like($resp // '', qr/\r\n\r\nv=0/, '... with the app\'s offer');
like(sip_header($resp, 'Contact'), qr/^<sip:dlg\@127\.0\.0\.1:$port>$/, '... and its Contact in name-addr form');
$u->send(req(method => 'ACK', user => 'reinv', cid => 'rv-1', branch => 'r2a', cseq => 2, totag => $ttag,
             ruri => $target, body => $sdp), 0, $to);
like(app_wait('uas', qr/^REINVITE-ACK/m) // app_log('uas'), qr/^REINVITE-ACK cseq=2 ACK answer=sdp$/m,
     'srf: res.send(200, opts, cb, fnAck) got the ACK, carrying the answer');
# a re-INVITE with SDP: the ACK without body reaches it too
$u->send(req(method => 'INVITE', user => 'reinv', cid => 'rv-1', branch => 'r3', cseq => 3, totag => $ttag,
             ruri => $target, body => $sdp =~ s/o=a 1 1/o=a 1 2/r), 0, $to);
is(sip_status(recv_resp($u, 'INVITE', 200, 5)), 200, 're-INVITE with SDP: 200');
$u->send(req(method => 'ACK', user => 'reinv', cid => 'rv-1', branch => 'r3a', cseq => 3, totag => $ttag,
             ruri => $target), 0, $to);
like(app_wait('uas', qr/^REINVITE-ACK cseq=3/m) // app_log('uas'), qr/^REINVITE-ACK cseq=3 ACK answer=none$/m,
     '... and its ACK (no body) reached fnAck');
# (a peer reading only <...> of a bare addr-spec would send an empty Request-URI)
$u->send(req(method => 'BYE', user => 'reinv', cid => 'rv-1', branch => 'r4', cseq => 4, totag => $ttag,
             ruri => $target // ''), 0, $to);
is(sip_status(recv_resp($u, 'BYE', 200, 3)), 200, 'BYE to the target read from <...>: 200');
ok(app_wait('uas', qr/^DESTROY reinv reason=bye$/m), 'srf: the dialog ended by it');

# --- 3: session timers ------------------------------------------------------------------
# refresher=uac asked without Supported: timer: kept; the caller refreshes
# every second (4 s interval); sipchain sends nothing; then it stops: BYE
# (every message sipchain sends meanwhile is kept in @seen)
$u->send(req(method => 'INVITE', user => 'callee', cid => 'se-1', branch => 's1', cseq => 1, body => $sdp,
             hdrs => [ 'Session-Expires: 4;refresher=uac' ]), 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_header($resp, 'Session-Expires'), '4;refresher=uac', 'refresher=uac without Supported: timer: the 200 keeps it');
like(sip_header($resp, 'Require'), qr/\btimer\b/, '... with Require: timer (9)');
($ttag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send(req(method => 'ACK', user => 'callee', cid => 'se-1', branch => 's1a', cseq => 1, totag => $ttag), 0, $to);
my (@seen, $bye);
sub collect {       # messages until $until (or one matching $re: returned)
    my ($until, $re) = @_;
    while ((my $l = $until - time) > 0) {
        my $m = recv_msg($u, $l) // next;
        return $m if $re && $m =~ $re;
        push @seen, $m;
    }
    return undef;
}
my $t0 = time;
for my $n (2 .. 3) {            # two refreshes, a second apart
    collect($t0 + ($n - 1));
    $u->send(req(method => 'INVITE', user => 'callee', cid => 'se-1', branch => "s$n", cseq => $n, totag => $ttag,
                 body => $sdp, hdrs => [ 'Session-Expires: 4;refresher=uac' ]), 0, $to);
    my $r = collect(time + 3, qr{^SIP/2\.0 200 [^\r]*\r\n(?:[^\r]+\r\n)*?CSeq: $n INVITE\r}m);
    is(sip_header($r, 'Session-Expires'), '4;refresher=uac', "refresh $n: 200, the caller still refreshing");
    $u->send(req(method => 'ACK', user => 'callee', cid => 'se-1', branch => "s${n}a", cseq => $n, totag => $ttag), 0, $to);
}
my $t1 = time;
$bye = collect($t1 + 7, qr/^BYE /);
my $waited = time - $t1;
my @reqs = grep { /^[A-Z]+ sip:/ } @seen;
is(scalar(@reqs), 0, 'sipchain, not the refresher, sent no refresh of its own')
    or diag(join("\n---\n", @reqs));
ok($bye && $waited >= 2.5, sprintf('the caller stopped refreshing: BYE after %.1f s (4 - 1)', $waited));
like($bye // '', qr/^Reason: SIP;cause=200;text="ended by sipchain"\r$/m, '... with its Reason');
answer_req($bye) if $bye;
ok(app_wait('uas', qr/^DESTROY callee reason=SIP;text="ended by sipchain"$/m), 'srf: destroyed (unsolicited BYE)');

# the app's own Session-Expires on its 200: the timer follows it
$u->send(req(method => 'INVITE', user => 'setimer', cid => 'se-2', branch => 't1', cseq => 1, body => $sdp,
             hdrs => [ 'Supported: timer' ]), 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_header($resp, 'Session-Expires'), '2;refresher=uac', 'the app\'s Session-Expires on its 200, as written');
($ttag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send(req(method => 'ACK', user => 'setimer', cid => 'se-2', branch => 't1a', cseq => 1, totag => $ttag), 0, $to);
$t0 = time;
$bye = recv_request($u, 'BYE', 6);
ok($bye && time - $t0 >= 1.2, sprintf('no refresh: BYE after %.1f s', time - $t0));
answer_req($bye) if $bye;
ok(app_wait('uas', qr/^DESTROY setimer reason=SIP;text="ended by sipchain"$/m), 'srf: destroyed');
# the app's UPDATE is a session refresh (RFC 4028 7.4): the caller's 200
# to it makes sipchain the refresher (refresher=uac, it sent the UPDATE),
# so sipchain refreshes at half the new interval instead of giving up
$u->send(req(method => 'INVITE', user => 'update', cid => 'se-3', branch => 'p1', cseq => 1, body => $sdp,
             hdrs => [ 'Supported: timer', 'Session-Expires: 6;refresher=uac' ]), 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_header($resp, 'Session-Expires'), '6;refresher=uac', 'UPDATE case: the caller refreshing at first');
($ttag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send(req(method => 'ACK', user => 'update', cid => 'se-3', branch => 'p1a', cseq => 1, totag => $ttag), 0, $to);
my $upd = recv_request($u, 'UPDATE', 5);
like(sip_header($upd, 'Session-Expires'), qr/^6;refresher=uas$/, 'the app\'s UPDATE carries the session interval')
    or diag(app_log('uas'));
if ($upd) {
    my $ok = "SIP/2.0 200 OK\r\n" . join('', map { "$_\r\n" } grep { /^(Via|From|To|Call-ID|CSeq):/i } split /\r\n/, $upd)
           . "Session-Expires: 4;refresher=uac\r\nRequire: timer\r\nContact: <sip:a\@127.0.0.1:$up>\r\nContent-Length: 0\r\n\r\n";
    $u->send($ok, 0, $to);
}
$t0 = time;
my $next;
while (time < $t0 + 6) {
    my $m = recv_msg($u, $t0 + 6 - time) // last;
    if ($m =~ /^(INVITE|UPDATE|BYE) /) { $next = $m; last }
}
like($next // '', qr/^(INVITE|UPDATE) /, sprintf('sipchain, refresher after the UPDATE\'s 200, refreshed after %.1f s', time - $t0));
if ($next && $next =~ /^INVITE /) {      # answer the refresh, then end the call
    my $ok = "SIP/2.0 200 OK\r\n" . join('', map { "$_\r\n" } grep { /^(Via|From|To|Call-ID|CSeq):/i } split /\r\n/, $next)
           . "Contact: <sip:a\@127.0.0.1:$up>\r\nContent-Length: 0\r\n\r\n";
    $u->send($ok, 0, $to);
}
sleep 0.3;
$u->send(req(method => 'BYE', user => 'update', cid => 'se-3', branch => 'p9', cseq => 9, totag => $ttag), 0, $to);
is(sip_status(recv_resp($u, 'BYE', 200, 3)), 200, '... and the call ends with the caller\'s BYE');
# sipchain the refresher (the caller asks refresher=uas), its refresh
# refused (500): the session expires all the same, sipchain ends it
$u->send(req(method => 'INVITE', user => 'callee', cid => 'se-4', branch => 'q1', cseq => 1, body => $sdp,
             hdrs => [ 'Supported: timer', 'Session-Expires: 3;refresher=uas' ]), 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_header($resp, 'Session-Expires'), '3;refresher=uas', 'refresher=uas: sipchain refreshes');
($ttag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send(req(method => 'ACK', user => 'callee', cid => 'se-4', branch => 'q1a', cseq => 1, totag => $ttag), 0, $to);
my $refr = recv_request($u, 'INVITE', 5);
ok($refr, 'its refresh re-INVITE came');
if ($refr) {
    my $no = "SIP/2.0 500 Not Now\r\n" . join('', map { "$_\r\n" } grep { /^(Via|From|To|Call-ID|CSeq):/i } split /\r\n/, $refr)
           . "Content-Length: 0\r\n\r\n";
    $no =~ s/^(To: [^\r]*)/$1;tag=x/m unless $no =~ /^To: [^\r]*tag=/m;
    $u->send($no, 0, $to);
}
$t0 = time;
$bye = recv_request($u, 'BYE', 4);
ok($bye, sprintf('the refresh refused: sipchain\'s BYE when the session expires (%.1f s later)', time - $t0));
answer_req($bye) if $bye;
ok(app_wait('uas', qr/^DESTROY callee reason=SIP;text="ended by sipchain"$/m), 'srf: destroyed');
app_stop($uas);

# as UAC: the callee says it refreshes (refresher=uas) and does not: BYE
my ($c, $cp) = udp_peer();
my $uac = app_start('uacse', 'uac', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$cp", 'stay', 'contact');
my $inv = recv_request($c, 'INVITE', 5);
ok($inv, 'srf createUAC: the INVITE reached the callee') or diag(app_log('uacse'));
like(sip_header($inv, 'Supported'), qr/\btimer\b/, '... offering timers');
like(sip_header($inv, 'Contact'), qr/^<sip:uac\@127\.0\.0\.1:$port>$/,
     '... and the app\'s bare "sip:uac@localhost" Contact in name-addr form');
my $ok = "SIP/2.0 200 OK\r\n" . join('', map { "$_\r\n" } grep { /^(Via|From|Call-ID|CSeq):/i } split /\r\n/, $inv // '')
       . "To: " . sip_header($inv, 'To') . ";tag=callee-1\r\nContact: <sip:bob\@127.0.0.1:$cp>\r\n"
       . "Session-Expires: 2;refresher=uas\r\nRequire: timer\r\nContent-Type: application/sdp\r\n"
       . "Content-Length: " . length($sdp) . "\r\n\r\n$sdp";
$c->send($ok, 0, $to);
ok(recv_request($c, 'ACK', 3), 'ACK');
$t0 = time;
my $got = recv_msg($c, 6);
like($got // '', qr/^BYE /, sprintf('the callee, refresher, did not refresh: sipchain\'s BYE after %.1f s', time - $t0));
cmp_ok(time - $t0, '>=', 1.2, '... not before the interval less a third');
if ($got && $got =~ /^BYE /) {
    (my $r = $got) =~ s/^BYE [^\r]*/SIP\/2.0 200 OK/;
    $r =~ s/\r\n\r\n.*/\r\n\r\n/s;
    $c->send($r, 0, $to);
}
ok(app_wait('uacse', qr/^DESTROY uac reason=SIP;text="ended by sipchain"$/m), 'srf: the UAC dialog destroyed');
app_stop($uac);

# --- 1: a reliable 180 without Contact is PRACKed, the call proceeds ----------------------
my $bport = free_port();
my $s = sipp_start('nocontact', "-sf $scen/uas_100rel_nocontact.xml -p $bport -i 127.0.0.1 -m 1");
sleep 0.3;
$uac = app_start('uacrel', 'uac', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$bport");
ok(app_wait('uacrel', qr/^UAC-BYE-DONE/m, 15), 'srf UAC: a reliable 180 without Contact, answered, hung up')
    or diag(app_log('uacrel'));
like(app_log('uacrel'), qr/^UAC-PROVISIONAL 180 rseq=1$/m, '... having seen the 180');
is(sipp_done($s), 0, 'sipp: the PRACK came to the Request-URI with RAck, then ACK and BYE')
    or diag(sipp_output('nocontact'));
app_stop($uac);

stop_server($pid);
my $text = do { local (@ARGV, $/) = $log; <> };
unlike($text, qr/\[error\]|ERROR|sanitizer/i, 'no error in the log');
unlike($text, qr/no PRACK/, 'no reliable provisional left unacknowledged');
done_testing();
