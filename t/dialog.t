# Dialogs end to end (RFC 3261 §12-15 through sc_uas_create,
# sc_uac_create, sc_b2bua_create and t_dialog): sipp callers answered by
# the UAS (also under 10% loss), the UAS hanging up, the BYE after 64*T1
# without ACK, requests inside a dialog (CSeq order, defaults, hold),
# calls placed to sipp callees (407 answered, CANCEL), a B2BUA between two
# sipp peers (headers passed and hidden, BYE either way, 486 with
# pass_failure on and off, CANCEL from A), and the CDR events of each.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use SipTest;
use Socket qw(pack_sockaddr_in inet_aton);
use POSIX qw(WNOHANG);
use Digest::MD5 qw(md5_hex);

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $mods = module_dir();
my $dir = tmpdir();
my $scen = "$ENV{PWD}/t/sipp";

my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
  session_timers: { expires: 1800, min_se: 2 }
modules_path: $mods
chain:
  - module: t_dialog
Y

sub logtext { local (@ARGV, $/) = $log; return scalar <> }
sub count_log { my ($re) = @_; my @m = logtext() =~ /$re/g; return scalar @m }

# a sipp run bounded in time; returns its exit status
sub sipp_bg {
    my ($name, $args) = @_;
    my $p = fork() // die;
    if ($p == 0) { exec("cd $dir && exec $sipp $args -timeout 30s -timeout_error -nostdin >$name.out 2>&1") }
    return $p;
}
sub sipp_wait {
    my ($p, $name) = @_;
    my $deadline = time + 40;
    while (time < $deadline) { return $? >> 8 if waitpid($p, WNOHANG) == $p; sleep 0.1 }
    kill 'TERM', $p;
    waitpid($p, 0);
    return -1;
}
sub sipp_out { my ($name) = @_; local (@ARGV, $/) = "$dir/$name.out"; return scalar(<>) // '' }
# The calls sipp counted as successful (its final statistics screen).
sub sipp_ok_calls { my ($name) = @_; return sipp_out($name) =~ /Successful call\s*\|[^|]*\|\s*(\d+)/ ? $1 : 0 }
sub inf {
    my ($name, @lines) = @_;
    return write_file("$name.csv", join("\n", 'SEQUENTIAL', @lines) . "\n");
}
sub caller_run {
    my ($name, $xml, $n, $inf, $extra) = @_;
    $extra //= '';
    my $p = sipp_bg($name, "-sf $scen/$xml -inf $inf -m $n -r 10 -i 127.0.0.1 -p " . free_port()
                        . " $extra -s service 127.0.0.1:$port");
    return sipp_wait($p, $name);
}

# 1. sipp calls the UAS: 200 with SDP, ACK, BYE from sipp; again with loss
my $before = count_log(qr/cdr:stop source=network .*reason=normal-release/);
is(caller_run('uas', 'dialog_uac.xml', 20, inf('uas', 'uas;-;0;')), 0, 'sipp: 20 calls answered by the UAS')
    or diag(sipp_out('uas'));
sleep 0.3;
is(count_log(qr/cdr:attempt source=network/), 20, '20 cdr:attempt from the network');
is(count_log(qr/cdr:start source=application role=uas/), 20, '20 cdr:start as uas');
is(count_log(qr/cdr:stop source=network role=- reason=normal-release/) - $before, 20,
   '20 cdr:stop normal-release when sipp hung up');
is(count_log(qr/t_dialog: destroy by request on uas leg/), 20, 'the module saw 20 destroy events');
is(caller_run('uasloss', 'dialog_uac.xml', 20, inf('uasloss', 'uas;-;0;'), '-lost 10'), 0,
   'sipp: 20 calls with 10% loss each way all complete (2xx resent until ACK, BYE retried)')
    or diag(sipp_out('uasloss'));

# 2. the UAS hangs up
is(caller_run('uasbye', 'dialog_uac_byein.xml', 5, inf('uasbye', 'uas;-;300;')), 0,
   'sipp: 5 calls the UAS ends with its BYE') or diag(sipp_out('uasbye'));
sleep 0.3;
like(logtext(), qr/cdr:stop source=application role=- reason=normal-release/, 'cdr:stop normal-release from us');

# 3. raw peer: requests in the dialog, then no ACK -> BYE after 64*T1
my $c = udp_client();
my $me = $c->sockport;
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $cseq = 10;
sub msg {
    my ($method, $seq, %h) = @_;
    my $body = $h{body} // '';
    my $x = join('', map { "$_: $h{x}{$_}\r\n" } sort keys %{ $h{x} // {} });
    my $ct = length $body ? "Content-Type: application/sdp\r\n" : '';
    return "$method sip:svc\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-$method-$seq-" . int(rand(1e9)) . ";rport\r\n"
         . "From: <sip:raw\@127.0.0.1>;tag=rawtag\r\nTo: <sip:svc\@127.0.0.1>" . ($h{totag} ? ";tag=$h{totag}" : '') . "\r\n"
         . "Call-ID: $h{cid}\r\nCSeq: $seq $method\r\nContact: <sip:raw\@127.0.0.1:$me>\r\nMax-Forwards: 70\r\n"
         . $x . $ct . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
# the next final response (for Call-ID cid, when given)
sub final_of {
    my ($timeout, $cid) = @_;
    my $deadline = time + ($timeout // 3);
    while (time < $deadline) {
        my $r = recv_msg($c, $deadline - time) // return undef;
        next if defined $cid && $r !~ /^Call-ID: \Q$cid\E\r$/mi;
        return $r if $r =~ m{^SIP/2\.0 [2-6]\d\d };
    }
    return undef;
}
sub status { my ($r) = @_; return defined $r && $r =~ m{^SIP/2\.0 (\d{3} [^\r]*)} ? $1 : 'none' }
sub hval { my ($r, $h) = @_; return defined $r && $r =~ /^$h: ([^\r]*)\r$/mi ? $1 : '' }

my $offer = "v=0\r\no=- 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\na=sendrecv\r\n";
my $cid = "raw-" . int(rand(1e9));
$c->send(msg('INVITE', $cseq, cid => $cid, body => $offer, x => { 'X-Mode' => 'uas' }), 0, $to);
my $ok = final_of();
is(status($ok), '200 OK', 'INVITE answered 200 by the UAS');
like(hval($ok, 'Contact'), qr/^<sip:127\.0\.0\.1:$port>$/, 'with our Contact (where the INVITE arrived)');
like($ok, qr/\r\n\r\nv=0\r\n.*s=uas/s, 'and the local SDP');
like(hval($ok, 'Content-Type'), qr{^application/sdp$}, 'typed application/sdp');
my ($totag) = hval($ok, 'To') =~ /;tag=([^;]+)/;
ok($totag, 'a To tag');
# the 2xx comes again until the ACK
my $again = recv_msg($c, 0.5);
like($again // '', qr{^SIP/2\.0 200 OK}, 'the 200 is resent while no ACK comes');
$c->send(msg('ACK', $cseq, cid => $cid, totag => $totag), 0, $to);
sleep 0.3;
1 while recv_msg($c, 0.05);
is(recv_msg($c, 0.5), undef, 'after the ACK: no more 200s');
# in the dialog
my $r = do { $c->send(msg('INFO', $cseq + 1, cid => $cid, totag => $totag), 0, $to); final_of() };
is(status($r), '200 OK', 'INFO in the dialog: 200 (default answer)');
$r = do { $c->send(msg('OPTIONS', $cseq + 2, cid => $cid, totag => $totag), 0, $to); final_of() };
is(status($r), '200 OK', 'OPTIONS in the dialog: 200');
$r = do { $c->send(msg('MESSAGE', $cseq + 1, cid => $cid, totag => $totag), 0, $to); final_of() };
like(status($r), qr/^500 CSeq lower/, 'a CSeq lower than the last: 500 (§12.2.2)');
$r = do { $c->send(msg('INFO', 5, cid => $cid, totag => 'nosuchtag'), 0, $to); final_of() };
isnt(status($r), '200 OK', 'a request for no dialog of ours is not the dialog\'s');
(my $hold = $offer) =~ s/a=sendrecv/a=sendonly/;
$r = do { $c->send(msg('INVITE', $cseq + 3, cid => $cid, totag => $totag, body => $hold), 0, $to); final_of() };
is(status($r), '200 OK', 're-INVITE putting us on hold: 200');
like($r, qr/s=uas/, 'answered with the local SDP');
$c->send(msg('ACK', $cseq + 3, cid => $cid, totag => $totag), 0, $to);
sleep 0.2;
like(logtext(), qr/t_dialog: hold by request on uas leg \Q$cid\E;from-tag=rawtag/, 'the module heard "hold"');
$r = do { $c->send(msg('INVITE', $cseq + 4, cid => $cid, totag => $totag, body => $offer), 0, $to); final_of() };
is(status($r), '200 OK', 're-INVITE taking us off hold: 200');
$c->send(msg('ACK', $cseq + 4, cid => $cid, totag => $totag), 0, $to);
sleep 0.2;
like(logtext(), qr/t_dialog: unhold by request/, 'the module heard "unhold"');
like(logtext(), qr/t_dialog: ack on uas leg \Q$cid\E;from-tag=rawtag answer=none/,
     'SC_DIALOG_ACK: the module heard the ACK of its 2xx');
# a re-INVITE without SDP: our 2xx offers, the ACK brings the answer
$r = do { $c->send(msg('INVITE', $cseq + 5, cid => $cid, totag => $totag), 0, $to); final_of() };
is(status($r), '200 OK', 're-INVITE without SDP: 200');
like($r, qr/s=uas/, '... offering the local SDP');
$c->send(msg('ACK', $cseq + 5, cid => $cid, totag => $totag, body => $offer), 0, $to);
like(wait_log($log, qr/t_dialog: ack on uas leg \Q$cid\E;from-tag=rawtag answer=sdp/),
     qr/t_dialog: ack on uas leg \Q$cid\E;from-tag=rawtag answer=sdp/, '... and SC_DIALOG_ACK with that answer');
sub find_status {
    my (%x) = @_;
    my $fc = "find-" . int(rand(1e9));
    $c->send(msg('MESSAGE', 1, cid => $fc, x => { 'X-Mode' => 'find', %x }), 0, $to);
    return status(final_of(3, $fc));
}
is(find_status('X-Dialog-Id' => "$cid;from-tag=rawtag"), '200 found uas', 'sc_dialog_find by id');
is(find_status('X-Call-ID' => $cid, 'X-From-Tag' => 'rawtag'), '200 found uas', 'and by Call-ID + From tag');
is(find_status('X-Call-ID' => $cid, 'X-From-Tag' => 'other'), '404 no such dialog', 'another From tag: none');
$r = do { $c->send(msg('BYE', $cseq + 6, cid => $cid, totag => $totag), 0, $to); final_of() };
is(status($r), '200 OK', 'BYE: 200');
is(find_status('X-Dialog-Id' => "$cid;from-tag=rawtag"), '404 no such dialog', 'once ended it is not found');
$r = do { $c->send(msg('INFO', $cseq + 7, cid => $cid, totag => $totag), 0, $to); final_of() };
isnt(status($r), '200 OK', 'after the BYE the dialog is gone');

# no ACK at all
my $cid2 = "noack-" . int(rand(1e9));
my $t0 = time;
$c->send(msg('INVITE', 1, cid => $cid2, body => $offer, x => { 'X-Mode' => 'uas' }), 0, $to);
my ($n200, $bye) = (0, undef);
while (time < $t0 + 10) {
    my $m = recv_msg($c, 0.5) // next;
    $n200++ if $m =~ m{^SIP/2\.0 200};
    if ($m =~ /^BYE /) { $bye = $m; last }
}
cmp_ok($n200, '>=', 5, "the 200 was sent $n200 times (T1 doubling up to T2)");
ok($bye, 'no ACK within 64*T1: the UAS sent BYE');
my $waited = time - $t0;
cmp_ok($waited, '>', 6, sprintf('after 64*T1 (%.1f s)', $waited));
like(hval($bye // '', 'To'), qr/rawtag/, 'the BYE is in the dialog (To: the caller, with its tag)');
like(hval($bye // '', 'User-Agent'), qr{^sipchain/\d}, 'and names us in User-Agent (server.server_header\'s default)');
if ($bye) {
    my ($v) = $bye =~ /^(Via: [^\r]*)\r$/mi;
    my ($cs) = $bye =~ /^(CSeq: [^\r]*)\r$/mi;
    $c->send("SIP/2.0 200 OK\r\n$v\r\n" . join('', map { "$_\r\n" } grep { defined }
             ($bye =~ /^((?:From|To|Call-ID): [^\r]*)\r$/mgi)) . "$cs\r\nContent-Length: 0\r\n\r\n", 0, $to);
}
sleep 0.2;
like(logtext(), qr/t_dialog: destroy by the core on uas leg \Q$cid2\E/, 'the module heard "destroy" from the core');
like(logtext(), qr/reason=system-initiated-termination status=\d+ call-id=\Q$cid2\E/, 'cdr:stop system-initiated-termination');

# session timers (RFC 4028)
sub ack_for {
    my ($cid_, $ok_) = @_;
    my ($tt) = hval($ok_, 'To') =~ /;tag=([^;]+)/;
    my ($seq) = hval($ok_, 'CSeq') =~ /^(\d+)/;
    $c->send(msg('ACK', $seq, cid => $cid_, totag => $tt), 0, $to);
    return $tt;
}
$r = do { $c->send(msg('INVITE', 1, cid => 'se-short', body => $offer,
                       x => { 'X-Mode' => 'uas', 'Session-Expires' => '1', 'Supported' => 'timer' }), 0, $to);
          final_of(3, 'se-short') };
is(status($r), '422 Session Interval Too Small', 'Session-Expires below min_se: 422');
is(hval($r, 'Min-SE'), '2', 'with Min-SE');
$c->send(msg('ACK', 1, cid => 'se-short', totag => (hval($r, 'To') =~ /;tag=([^;]+)/)[0]), 0, $to);

# the caller refreshes and does not: we end the call
$t0 = time;
$r = do { $c->send(msg('INVITE', 1, cid => 'se-watch', body => $offer,
                       x => { 'X-Mode' => 'uas', 'Session-Expires' => '2;refresher=uac', 'Supported' => 'timer' }), 0, $to);
          final_of(3, 'se-watch') };
is(hval($r, 'Session-Expires'), '2;refresher=uac', 'the 200 keeps the interval and the refresher asked for');
like(hval($r, 'Require'), qr/timer/, 'Require: timer (the caller refreshes)');
ack_for('se-watch', $r);
my $sbye;
while (time < $t0 + 5) { my $m = recv_msg($c, 0.3) // next; if ($m =~ /^BYE / && $m =~ /se-watch/) { $sbye = $m; last } }
ok($sbye, 'no refresh within the interval: BYE');
cmp_ok(time - $t0, '>=', 1.9, 'not before the interval ran out');
sleep 0.2;
like(logtext(), qr/reason=session-expired status=\d+ call-id=se-watch/, 'cdr:stop session-expired');

# we refresh
$r = do { $c->send(msg('INVITE', 1, cid => 'se-us', body => $offer,
                       x => { 'X-Mode' => 'uas', 'Session-Expires' => '2;refresher=uas', 'Supported' => 'timer' }), 0, $to);
          final_of(3, 'se-us') };
is(hval($r, 'Session-Expires'), '2;refresher=uas', 'refresher=uas: we refresh');
my $setag = ack_for('se-us', $r);
my $refresh;
$t0 = time;
while (time < $t0 + 3) { my $m = recv_msg($c, 0.3) // next; if ($m =~ /^INVITE / && $m =~ /se-us/) { $refresh = $m; last } }
ok($refresh, 'a refreshing re-INVITE came');
cmp_ok(time - $t0, '<', 1.6, 'at half the interval');
like(hval($refresh // '', 'Session-Expires'), qr/^2;refresher=uac$/, 'naming us (its UAC) the refresher');
like($refresh // '', qr/s=uas/, 'with the session as it was');
if ($refresh) {
    my @h = map { "$_\r\n" } ($refresh =~ /^((?:Via|From|To|Call-ID|CSeq): [^\r]*)\r$/mgi);
    $c->send("SIP/2.0 200 OK\r\n" . join('', @h) . "Contact: <sip:raw\@127.0.0.1:$me>\r\n"
             . "Session-Expires: 2;refresher=uac\r\nRequire: timer\r\nContent-Length: 0\r\n\r\n", 0, $to);
    my $ack;
    for (1 .. 10) { my $m = recv_msg($c, 0.2) // next; if ($m =~ /^ACK /) { $ack = $m; last } }
    ok($ack, 'our 200 to the refresh was ACKed');
}
$r = do { $c->send(msg('BYE', 2, cid => 'se-us', totag => $setag), 0, $to); final_of(3, 'se-us') };
is(status($r), '200 OK', 'BYE ends it');

# 4. the module calls a sipp callee that challenges (407)
sub trigger {
    my (%x) = @_;
    my $tcid = "trig-" . int(rand(1e9));
    $c->send(msg('MESSAGE', 1, cid => $tcid, x => \%x), 0, $to);
    return status(final_of(3, $tcid));
}
my $bport = free_port();
my $b = sipp_bg('auth', "-sf $scen/uas_auth.xml -m 1 -i 127.0.0.1 -p $bport -trace_msg");
sleep 0.3;
is(trigger('X-Mode' => 'uac', 'X-Target' => "sip:bob\@127.0.0.1:$bport", 'X-Auth-User' => 'alice',
           'X-Auth-Pass' => 'secret', 'X-Hangup-After' => 300), '200 call placed', 'the module places a call');
is(sipp_wait($b, 'auth'), 0, 'sipp callee: 407, then the INVITE with valid credentials, 200, ACK, our BYE')
    or diag(sipp_out('auth'));
{
    # RFC 2617 §3.2.2 recomputed here from what B received
    my ($trace) = glob("$dir/uas_auth_*_messages.log");
    my $t = do { local (@ARGV, $/) = $trace; <> } // '';
    my ($cred) = $t =~ /^Proxy-Authorization: Digest ([^\r\n]*)/mi;
    my %p = map { /^\s*(\w+)="?([^"]*)"?$/ ? ($1 => $2) : () } split /,/, $cred // '';
    my $ha1 = md5_hex("alice:test:secret");
    my $ha2 = md5_hex("INVITE:$p{uri}");
    my $want = md5_hex("$ha1:abc123:" . ($p{nc} // '') . ":" . ($p{cnonce} // '') . ":auth:$ha2");
    is($p{response} // '', $want, 'the credentials answer the challenge (qop=auth, nc, cnonce)');
    is("$p{username}|$p{realm}|$p{opaque}|$p{qop}", 'alice|test|op4que|auth', 'username, realm, opaque and qop as they must be');
}
like(logtext(), qr/cdr:attempt source=application/, 'cdr:attempt from the application');
like(logtext(), qr/cdr:start source=network role=uac/, 'cdr:start as uac');

# CANCEL
$b = sipp_bg('cancel', "-sf $scen/uas_ring_cancel.xml -m 1 -i 127.0.0.1 -p $bport");
sleep 0.3;
is(trigger('X-Mode' => 'uac', 'X-Target' => "sip:bob\@127.0.0.1:$bport", 'X-Cancel-After' => 400),
   '200 call placed', 'a call to a callee that rings');
is(sipp_wait($b, 'cancel'), 0, 'sipp callee: 180, CANCEL, 487 ACKed') or diag(sipp_out('cancel'));
sleep 0.2;
like(logtext(), qr/t_dialog: uac failed 487/, 'the module was told 487');
like(logtext(), qr/cdr:stop source=network role=- reason=call-canceled status=487/, 'cdr:stop call-canceled');

# 302: with follow_redirects the best Contact (q) is called, same Call-ID
# and From, the next CSeq; without it the module gets the 302
my $cport = free_port();
my $callee = sipp_bg('redir_c', "-sf $scen/uas_lossy.xml -m 1 -i 127.0.0.1 -p $cport");
$b = sipp_bg('redir', "-sf $scen/uas_302.xml -m 1 -i 127.0.0.1 -p $bport -key redirect_to sip:carol\@127.0.0.1:$cport");
sleep 0.3;
is(trigger('X-Mode' => 'uac', 'X-Target' => "sip:bob\@127.0.0.1:$bport", 'X-Follow' => 'yes',
           'X-Hangup-After' => 300), '200 call placed', 'a call to a callee that redirects');
is(sipp_wait($b, 'redir'), 0, 'sipp redirector: INVITE, 302, ACK') or diag(sipp_out('redir'));
is(sipp_wait($callee, 'redir_c'), 0, 'the Contact of the 302 got the INVITE, 200, ACK, our BYE')
    or diag(sipp_out('redir_c'));
like(logtext(), qr{uac: INVITE sip:bob\@127\.0\.0\.1:$bport: now to sip:carol\@127\.0\.0\.1:$cport}, 'the q=0.5 Contact first');
unlike(logtext(), qr{now to sip:nobody}, 'the q=0.1 one not needed');
$b = sipp_bg('redir_no', "-sf $scen/uas_302.xml -m 1 -i 127.0.0.1 -p $bport -key redirect_to sip:carol\@127.0.0.1:$cport");
sleep 0.3;
$before = count_log(qr/t_dialog: uac failed 302/);
is(trigger('X-Mode' => 'uac', 'X-Target' => "sip:bob\@127.0.0.1:$bport"), '200 call placed', 'again without follow_redirects');
is(sipp_wait($b, 'redir_no'), 0, 'sipp redirector: INVITE, 302, ACK') or diag(sipp_out('redir_no'));
sleep 0.2;
is(count_log(qr/t_dialog: uac failed 302/), $before + 1, 'the module gets the 302');

# calls placed under 10% loss each way: each completes
# (a port of its own: a BYE still retransmitted after a run must not
# reach the next one's sipp)
my $lport = free_port();
$b = sipp_bg('uacloss', "-sf $scen/uas_lossy.xml -m 10 -lost 10 -i 127.0.0.1 -p $lport -trace_err");
sleep 0.3;
my $placed = 0;
for (1 .. 10) {
    $placed++ if trigger('X-Mode' => 'uac', 'X-Target' => "sip:bob\@127.0.0.1:$lport", 'X-Hangup-After' => 300) eq '200 call placed';
    sleep 0.4;
}
is($placed, 10, '10 calls placed to a callee losing 10%');
# sipp's callee scenario cannot wait for an ACK and a retransmitted
# INVITE at once: when our retransmitted INVITE and our ACK reach it
# together it aborts that call ("unexpected message while sending"),
# about one call in a hundred.  That is sipp's limit, not ours: one such
# call is allowed, every other must complete.
sipp_wait($b, 'uacloss');
cmp_ok(sipp_ok_calls('uacloss'), '>=', 9, 'sipp callee under loss: the calls answered, ACKed and ended by our BYE')
    or diag(sipp_out('uacloss'));

# 5. B2BUA between two sipp peers
$b = sipp_bg('b2b', "-sf $scen/uas_b2b.xml -m 5 -i 127.0.0.1 -p $bport");
sleep 0.3;
is(caller_run('b2ba', 'dialog_uac.xml', 5, inf('b2ba', "b2bua;sip:bob\@127.0.0.1:$bport;0;")), 0,
   'sipp A: 5 calls through the b2bua, BYE from A') or diag(sipp_out('b2ba'));
is(sipp_wait($b, 'b2b'), 0, 'sipp B: X-Leg and X-Forward-Me came, A\'s Via did not, the BYE came')
    or diag(sipp_out('b2b'));

# BYE from B: A gets it
$b = sipp_bg('b2bbye', "-sf $scen/uas_b2b_bye.xml -m 3 -i 127.0.0.1 -p $bport");
sleep 0.3;
is(caller_run('b2bbyea', 'dialog_uac_byein.xml', 3, inf('b2bbyea', "b2bua;sip:bob\@127.0.0.1:$bport;0;")), 0,
   'sipp A: the BYE from B reached A') or diag(sipp_out('b2bbyea'));
is(sipp_wait($b, 'b2bbye'), 0, 'sipp B: its BYE answered') or diag(sipp_out('b2bbye'));

# both legs losing 10% each way: every call still completes
$lport = free_port();
$b = sipp_bg('b2blossb', "-sf $scen/uas_lossy.xml -m 10 -lost 10 -i 127.0.0.1 -p $lport -trace_err");
sleep 0.3;
my $a_rc = caller_run('b2blossa', 'dialog_uac.xml', 10, inf('b2blossa', "b2bua;sip:bob\@127.0.0.1:$lport;0;"), '-lost 10 -trace_err');
# the same sipp callee scenario limit as above (a call it aborts fails
# A's too): one such call allowed
sipp_wait($b, 'b2blossb');
cmp_ok(sipp_ok_calls('b2blossa'), '>=', 9, 'sipp A under loss: the calls through the b2bua') or diag(sipp_out('b2blossa'));
cmp_ok(sipp_ok_calls('b2blossb'), '>=', 9, 'sipp B under loss: the calls answered and ended') or diag(sipp_out('b2blossb'));

# 486 from B, pass_failure on and off
for my $pf ('yes', 'no') {
    $b = sipp_bg("busy$pf", "-sf $scen/uas_busy.xml -m 1 -i 127.0.0.1 -p $bport");
    sleep 0.3;
    my $bc = "busy-$pf-" . int(rand(1e9));
    $c->send(msg('INVITE', 1, cid => $bc, body => $offer,
                 x => { 'X-Mode' => 'b2bua', 'X-Target' => "sip:bob\@127.0.0.1:$bport", 'X-Pass-Failure' => $pf }), 0, $to);
    my $f = final_of(5, $bc);
    is(status($f), $pf eq 'yes' ? '486 Busy Here' : '480 Tried B: 486',
       "486 from B with pass_failure " . ($pf eq 'yes' ? 'on: A gets 486' : 'off: the module answers A'));
    is(sipp_wait($b, "busy$pf"), 0, 'sipp B: 486 ACKed');
}
like(logtext(), qr/cdr:stop source=network role=- reason=call-rejected status=486/, 'cdr:stop call-rejected');

# the callback forms: response headers and A's SDP computed per response
$b = sipp_bg('b2bcb', "-sf $scen/uas_b2b.xml -m 1 -i 127.0.0.1 -p $bport");
sleep 0.3;
my $cbc = "b2bcb-" . int(rand(1e9));
$c->send(msg('INVITE', 1, cid => $cbc, body => $offer,
             x => { 'X-Mode' => 'b2bua', 'X-Target' => "sip:bob\@127.0.0.1:$bport", 'X-Callbacks' => 'yes',
                    'X-Forward-Me' => 'from-A' }), 0, $to);
my ($ring180, $ok200);
for (1 .. 20) {
    my $m = recv_msg($c, 0.25) // next;
    next unless $m =~ /\Q$cbc\E/;
    $ring180 = $m if $m =~ m{^SIP/2\.0 180};
    if ($m =~ m{^SIP/2\.0 200}) { $ok200 = $m; last }
}
is(hval($ring180 // '', 'X-From-Cb'), '180', 'response_headers_cb: its header on the 180 to A');
is(hval($ok200 // '', 'X-From-Cb'), '200', 'and on the 200');
like($ok200 // '', qr/\r\n\r\nv=0\r\n.*s=from-cb/s, 'local_sdp_a_cb: A gets the SDP it returned');
unlike($ok200 // '', qr/^(?:Via|v):[^\r]*127\.0\.0\.1:$bport/mi, 'no trace of B in A\'s 200 (topology hidden)');
if ($ok200) {
    my ($atag) = hval($ok200, 'To') =~ /;tag=([^;]+)/;
    $c->send(msg('ACK', 1, cid => $cbc, totag => $atag), 0, $to);
    $r = do { $c->send(msg('BYE', 2, cid => $cbc, totag => $atag), 0, $to); final_of(3, $cbc) };
    is(status($r), '200 OK', 'A hangs up');
}
is(sipp_wait($b, 'b2bcb'), 0, 'sipp B: called, and the BYE passed on') or diag(sipp_out('b2bcb'));

# CANCEL from A
$b = sipp_bg('b2bcancel', "-sf $scen/uas_ring_cancel.xml -m 1 -i 127.0.0.1 -p $bport");
sleep 0.3;
my $cc = "acancel-" . int(rand(1e9));
my $inv = msg('INVITE', 1, cid => $cc, body => $offer, x => { 'X-Mode' => 'b2bua', 'X-Target' => "sip:bob\@127.0.0.1:$bport" });
$c->send($inv, 0, $to);
my $ring;
for (1 .. 20) { my $m = recv_msg($c, 0.25) // next; if ($m =~ m{^SIP/2\.0 180}) { $ring = $m; last } }
ok($ring, 'A hears B ringing (180 passed)');
like(hval($ring // '', 'X-Leg'), qr/^A$/, 'with the response headers for A');
(my $cancel = $inv) =~ s/^INVITE /CANCEL /;
$cancel =~ s/CSeq: 1 INVITE/CSeq: 1 CANCEL/;
$cancel =~ s/Content-Type:[^\r]*\r\n//;
$cancel =~ s/Content-Length: \d+\r\n\r\n.*/Content-Length: 0\r\n\r\n/s;
$c->send($cancel, 0, $to);
my %got;
for (1 .. 20) { my $m = recv_msg($c, 0.25) // next; $got{$1} = 1 if $m =~ m{^SIP/2\.0 (\d+)}; last if $got{487} }
ok($got{200} && $got{487}, 'A: 200 to its CANCEL and 487 to its INVITE');
is(sipp_wait($b, 'b2bcancel'), 0, 'sipp B: the CANCEL reached B') or diag(sipp_out('b2bcancel'));

# reliable provisionals (RFC 3262) on both sides
is(caller_run('prack', 'uac_100rel.xml', 3, inf('prack', 'uas;-;500;')), 0,
   'sipp caller: our 183 came reliably (Require: 100rel, RSeq), its PRACK got 200, then the 200')
    or diag(sipp_out('prack'));
$b = sipp_bg('relb', "-sf $scen/uas_100rel.xml -m 1 -i 127.0.0.1 -p $bport");
sleep 0.3;
is(trigger('X-Mode' => 'uac', 'X-Target' => "sip:bob\@127.0.0.1:$bport", 'X-Hangup-After' => 300),
   '200 call placed', 'a call to a callee that answers reliably');
is(sipp_wait($b, 'relb'), 0, 'sipp callee: 100rel offered, its reliable 183 PRACKed (RAck), 200, ACK, BYE')
    or diag(sipp_out('relb'));
$b = sipp_bg('relb2', "-sf $scen/uas_100rel.xml -m 2 -i 127.0.0.1 -p $bport");
sleep 0.3;
is(caller_run('relb2a', 'uac_100rel.xml', 2, inf('relb2a', "b2bua;sip:bob\@127.0.0.1:$bport;0;")), 0,
   'b2bua: B\'s reliable 183 reached A reliably, A\'s PRACK answered') or diag(sipp_out('relb2a'));
is(sipp_wait($b, 'relb2'), 0, 'sipp B: PRACKed by us') or diag(sipp_out('relb2'));

# subscriptions (RFC 6665)
sub sub_msg {
    my ($cid_, $seq, $exp, %o) = @_;
    return msg('SUBSCRIBE', $seq, cid => $cid_, totag => $o{totag},
               x => { 'X-Mode' => 'uas', 'Event' => 'presence', 'Expires' => $exp, %{ $o{x} // {} } });
}
sub next_request {
    my ($method, $cid_, $timeout) = @_;
    my $deadline = time + ($timeout // 3);
    while (time < $deadline) {
        my $m = recv_msg($c, $deadline - time) // return undef;
        return $m if $m =~ /^$method / && $m =~ /^Call-ID: \Q$cid_\E\r$/mi;
    }
    return undef;
}
sub answer_200 {
    my ($m) = @_;
    my @h = map { "$_\r\n" } ($m =~ /^((?:Via|From|To|Call-ID|CSeq): [^\r]*)\r$/mgi);
    $c->send("SIP/2.0 200 OK\r\n" . join('', @h) . "Content-Length: 0\r\n\r\n", 0, $to);
}
$r = do { $c->send(sub_msg('sub-a', 1, 60, x => { 'X-Hangup-After' => 300 }), 0, $to); final_of(3, 'sub-a') };
is(status($r), '202 Accepted', 'SUBSCRIBE answered 202 by sc_uas_create');
is(hval($r, 'Expires'), '60', 'with the Expires granted');
like(hval($r, 'Contact'), qr/^<sip:127\.0\.0\.1:$port>$/, 'and our Contact');
my $n = next_request('NOTIFY', 'sub-a');
like(hval($n // '', 'Subscription-State'), qr/^terminated;reason=noresource$/, 'sc_dialog_destroy: NOTIFY terminated');
is(hval($n // '', 'Event'), 'presence', 'for the subscription\'s Event');
answer_200($n) if $n;

$t0 = time;
$r = do { $c->send(sub_msg('sub-b', 1, 1), 0, $to); final_of(3, 'sub-b') };
is(hval($r, 'Expires'), '1', 'a 1 s subscription');
$n = next_request('NOTIFY', 'sub-b', 4);
like(hval($n // '', 'Subscription-State'), qr/^terminated;reason=timeout$/, 'not refreshed: NOTIFY terminated;reason=timeout');
cmp_ok(time - $t0, '>=', 0.9, 'when it expired');
answer_200($n) if $n;

$r = do { $c->send(sub_msg('sub-c', 1, 60), 0, $to); final_of(3, 'sub-c') };
my ($subtag) = hval($r, 'To') =~ /;tag=([^;]+)/;
$r = do { $c->send(sub_msg('sub-c', 2, 0, totag => $subtag), 0, $to); final_of(3, 'sub-c') };
is(status($r), '200 OK', 'unsubscribe (Expires: 0) in the dialog: 200');
$n = next_request('NOTIFY', 'sub-c');
like(hval($n // '', 'Subscription-State'), qr/^terminated/, 'and the final NOTIFY');
answer_200($n) if $n;
sleep 0.2;
like(logtext(), qr/destroy by the core on uas leg sub-c;from-tag=rawtag/, 'the module heard the subscription end');

# the module subscribes to us; our NOTIFY terminated ends it
is(trigger('X-Mode' => 'subscribe', 'X-Target' => "sip:raw\@127.0.0.1:$me"), '200 subscribing',
   'the module subscribes (sc_uac_create with SUBSCRIBE)');
my $sub;
for (1 .. 10) { my $m = recv_msg($c, 0.3) // next; if ($m =~ /^SUBSCRIBE /) { $sub = $m; last } }
ok($sub, 'its SUBSCRIBE came');
like(hval($sub // '', 'Event'), qr/^presence$/, 'with its Event');
if ($sub) {
    my ($scid) = hval($sub, 'Call-ID');
    my ($ftag) = hval($sub, 'From') =~ /;tag=([^;]+)/;
    my @h = map { "$_\r\n" } ($sub =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mgi);
    my $toh = hval($sub, 'To') . ';tag=notifier1';
    $c->send("SIP/2.0 202 Accepted\r\n" . join('', @h) . "To: $toh\r\nContact: <sip:raw\@127.0.0.1:$me>\r\n"
             . "Expires: 60\r\nContent-Length: 0\r\n\r\n", 0, $to);
    sleep 0.3;
    like(logtext(), qr/connected \Q$scid\E;from-tag=\Q$ftag\E/, 'the subscription dialog exists');
    my $fromh = hval($sub, 'From');
    my $notify = "NOTIFY sip:sipchain\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-n1;rport\r\n"
               . "From: $toh\r\nTo: $fromh\r\nCall-ID: $scid\r\nCSeq: 1 NOTIFY\r\nContact: <sip:raw\@127.0.0.1:$me>\r\n"
               . "Event: presence\r\nSubscription-State: terminated;reason=deactivated\r\nMax-Forwards: 70\r\n"
               . "Content-Length: 0\r\n\r\n";
    $c->send($notify, 0, $to);
    is(status(final_of(3, $scid)), '200 OK', 'NOTIFY terminated answered 200');
    sleep 0.2;
    like(logtext(), qr/destroy by request on uac leg \Q$scid\E/, 'and it ended the subscription (destroy event)');
}

# no PRACK at all: the 183 is resent, then the INVITE gets 500
my $np = "noprack-" . int(rand(1e9));
$t0 = time;
$c->send(msg('INVITE', 1, cid => $np, body => $offer,
             x => { 'X-Mode' => 'uas', 'X-Early' => 9000, 'Supported' => '100rel' }), 0, $to);
my ($n183, $f500) = (0, undef);
while (time < $t0 + 10) {
    my $m = recv_msg($c, 0.5) // next;
    next unless $m =~ /\Q$np\E/;
    $n183++ if $m =~ m{^SIP/2\.0 183} && $m =~ /^RSeq: 1\r$/m;
    if ($m =~ m{^SIP/2\.0 500}) { $f500 = $m; last }
}
cmp_ok($n183, '>=', 4, "the reliable 183 was sent $n183 times");
like(status($f500), qr/^500 No PRACK/, 'no PRACK within 64*T1: 500');
cmp_ok(time - $t0, '>', 6, 'after 64*T1');

is(stop_server($pid), 0, 'stopped')
    or diag(join "\n", grep { !/\] (?:debug|info)/ } split /\n/, logtext());
done_testing();
