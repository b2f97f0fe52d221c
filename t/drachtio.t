# The drachtio module end to end with the real drachtio-srf (pinned in
# t/drachtio/package.json, installed by scripts/install-deps.sh) and sipp
# or raw sockets as the SIP peers: the control protocol itself (framing
# across and within TCP segments, a frame far over drachtio-server's
# 99 999 bytes, authenticate, ping, a wrong secret), config errors, 503
# with no application, a srf UAS app answering sipp's call and seeing
# the CDR events, a rejection with the app's header, MESSAGE, CANCEL
# reaching the app, the app hanging up, a srf UAC app calling a sipp UAS
# that challenges it, 481 for a dialog whose app has gone, and an app
# that reconnects.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);
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

# --- config errors ------------------------------------------------------------
for my $bad ([ "    listen: \"127.0.0.1:$ctl\"\n", qr/:\d+:\d+: drachtio: "secret" is required/ ],
             [ "    secret: x\n    no_app: maybe\n", qr/:\d+:\d+: "no_app" must be reject or next/ ],
             [ "    secret: x\n    outbound: \"udp://127.0.0.1:1\"\n", qr/:\d+:\d+: "outbound" must be tcp:\/\/HOST:PORT or tls:/ ],
             [ "    secret: x\n    tls: { cert: /nonexistent.pem }\n", qr/:\d+:\d+: drachtio: tls needs both "cert" and "key"/ ],
             [ "    secret: x\n    tls: { cert: /nonexistent.pem, key: /nonexistent.key }\n",
               qr/:\d+:\d+: drachtio: tls: cannot load certificate \/nonexistent\.pem/ ]) {
    my $f = write_file("bad-$ctl.yaml", "server:\n  listen: [ \"udp:127.0.0.1:$ctl\" ]\nmodules_path: $mods\nchain:\n  - module: drachtio\n$bad->[0]");
    my $out = `${\ sipchain()} -t -c $f 2>&1`;
    like($out, $bad->[1], "config refused: $bad->[1]");
}

my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  session_timers: { expires: 1800, min_se: 2 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctl"
    secret: cymru
    tags:
      - { user_prefix: blue, tag: blue }
Y
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));

# --- the protocol by hand ------------------------------------------------------
sub frame { my ($p) = @_; return length($p) . "#$p" }
my %rbuf;     # what each socket read past the frame returned
sub read_frame {
    my ($s, $secs) = @_;
    my $buf = \$rbuf{fileno($s)};
    $$buf //= '';
    my $end = time + ($secs // 3);
    while (time < $end) {
        if ($$buf =~ /^(\d+)#/ && length($$buf) >= length($1) + 1 + $1) {
            my $f = substr($$buf, length($1) + 1, $1);
            substr($$buf, 0, length($1) + 1 + $1) = '';
            return $f;
        }
        my $r = '';
        vec(my $rin = '', fileno($s), 1) = 1;
        select(my $rout = $rin, undef, undef, 0.1) or next;
        sysread($s, $r, 65536) or return undef;
        $$buf .= $r;
    }
    return undef;
}
my $raw = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ctl", Proto => 'tcp') or die "connect: $!";
# one frame in two segments
my $auth = frame('m1|authenticate|cymru|');
syswrite($raw, substr($auth, 0, 5)); sleep 0.1; syswrite($raw, substr($auth, 5));
my $r = read_frame($raw);
like($r, qr/^[0-9a-f-]{36}\|response\|m1\|OK\|udp\/127\.0\.0\.1:$port,tcp\/127\.0\.0\.1:$port\|v\d+\.\d+\.\d+[^|]*\|udp\//,
     'authenticate: OK, our SIP hostports, a version srf parses');
# two frames in one segment, the second far beyond 99 999 bytes
$raw->print(frame('m2|ping') . frame('m3|ping|' . ('x' x 200_000)));
like(read_frame($raw), qr/\|response\|m2\|OK\|pong$/, 'ping -> pong');
like(read_frame($raw), qr/\|response\|m3\|OK\|pong$/, 'a 200 000-byte frame is read whole');
syswrite($raw, frame('m4|route|message'));
like(read_frame($raw), qr/\|response\|m4\|OK$/, 'route -> OK');
# a MESSAGE from the network reaches this raw app with every token
my ($u, $up) = udp_peer();
$u->send("MESSAGE sip:app\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-m1;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:app\@x>\r\nCall-ID: msg-1\r\nCSeq: 1 MESSAGE\r\n"
       . "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", 0, $to);
$r = read_frame($raw);
my ($lead, $sip) = split /\r\n/, $r // '', 2;
my @t = split /\|/, $lead // '', -1;
is_deeply([ @t[1,2,4,5,6], $t[9], @t[10,11] ], [ 'sip', 'network', 'udp', '127.0.0.1', $up, '', '127.0.0.1', $port ],
          'sip frame: source, protocol, address, port, no dialog, received on');
like($t[7] // '', qr/^\d\d:\d\d:\d\d\.\d{6}$/, 'time as HH:MM:SS.uuuuuu');
is($t[3], length($sip // ''), 'bytes = the message as received');
like($sip // '', qr/^MESSAGE sip:app.*\r\n\r\nhi$/s, 'the request whole');
my $txn = $t[8];
syswrite($raw, frame("m5|sip|$txn|\r\nSIP/2.0 202 Accepted\r\nX-Raw: yes\r\nContent-Length: 0\r\n\r\n"));
$r = read_frame($raw);
like($r, qr/\|response\|m5\|OK\|application\|\d+\|udp\|127\.0\.0\.1\|$port\|[\d:.]+\|\Q$txn\E\|\|\|Msg sent:\|\r\nSIP\/2\.0 202 Accepted\r\n/,
     'the answer: OK with the response as sent');
my $resp = recv_msg($u, 2);
is(sip_status($resp), 202, 'the app\'s 202 reached the network');
is(sip_header($resp, 'X-Raw'), 'yes', '... with its header');
syswrite($raw, frame("m6|sip|$txn|\r\nSIP/2.0 200 OK\r\n\r\n"));
like(read_frame($raw), qr/\|response\|m6\|NOK\|/, 'a second final answer: NOK');
delete $rbuf{fileno($raw)}; close $raw;
my $bad = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ctl", Proto => 'tcp') or die;
syswrite($bad, frame('b1|authenticate|wrong|'));
like(read_frame($bad), qr/\|response\|b1\|NO\|incorrect secret/, 'a wrong secret: NO');
ok(!defined(read_frame($bad, 1)), '... and the connection closed');

# --- no application ------------------------------------------------------------
sleep 0.2;
$u->send("MESSAGE sip:app\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-m2;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:app\@x>\r\nCall-ID: msg-2\r\nCSeq: 1 MESSAGE\r\n"
       . "Content-Length: 0\r\n\r\n", 0, $to);
$resp = recv_msg($u, 2);
is(sip_status($resp), 503, 'no application for MESSAGE: 503');

# --- srf applications ------------------------------------------------------------
sub app_start { my ($name, @args) = @_;
    return node_app($name, script => 'app.js', args => \@args, limit => 60,
                    ready => qr/^(CONNECTED|LISTENING)/m, ready_secs => 10) }

my $uas = app_start('uas', 'uas', "127.0.0.1:$ctl", 'cdr');
like(app_log('uas'), qr/hostport=udp\/127\.0\.0\.1:$port,tcp/, 'srf connected and got our hostports');

my $s = sipp_start('call', "-sf $scen/proxy_uac.xml -s callee 127.0.0.1:$port -m 3 -r 10 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'srf UAS: 3 sipp calls answered and ended');
my $al = app_wait('uas', qr/(DESTROY uas.*){3}/s, 5) // app_log('uas');
is(() = $al =~ /^UAS-DIALOG id=\S+;from-tag=\S+$/mg, 3, 'three dialogs with drachtio ids');
is(() = $al =~ /^DESTROY uas/mg, 3, '... each destroyed by the caller\'s BYE');
is(() = $al =~ /^CDR attempt source=network/mg, 3, 'cdr:attempt for each');
is(() = $al =~ /^CDR start source=application info=uas/mg, 3, 'cdr:start (uas)');
is(() = $al =~ /^CDR stop source=network info=normal-release/mg, 3, 'cdr:stop (normal-release)');

# a rejection with the app's header; 100 Trying first
$u->send("INVITE sip:busy\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i1;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:busy\@x>\r\nCall-ID: inv-1\r\nCSeq: 1 INVITE\r\n"
       . "Contact: <sip:a\@127.0.0.1:$up>\r\nContent-Length: 0\r\n\r\n", 0, $to);
is(sip_status(recv_msg($u, 2)), 100, '100 Trying at once');
$resp = recv_msg($u, 3);
is(sip_status($resp), 486, 'the app rejected it: 486') or diag($resp // 'nothing');
is(sip_header($resp, 'X-Why'), 'test', '... with its header');
$u->send("ACK sip:busy\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i1;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:busy\@x>;tag=" . (sip_header($resp, 'To') =~ /tag=(\S+)/)[0]
       . "\r\nCall-ID: inv-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to);

# the app's own To tag (srf: headers.To with a tag) on its answer
$u->send("INVITE sip:mytag\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i9;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=9\r\nTo: <sip:mytag\@x>\r\nCall-ID: inv-9\r\nCSeq: 1 INVITE\r\n"
       . "Contact: <sip:a\@127.0.0.1:$up>\r\nContent-Length: 0\r\n\r\n", 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 3);
is(sip_status($resp) . ' ' . sip_header($resp, 'To'), '480 <sip:mytag@x>;tag=app-tag-1', 'the app\'s To tag on its answer');
$u->send("ACK sip:mytag\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i9;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=9\r\nTo: <sip:mytag\@x>;tag=app-tag-1\r\nCall-ID: inv-9\r\n"
       . "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to);

# CANCEL while the app rings
$u->send("INVITE sip:slow\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i2;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=2\r\nTo: <sip:slow\@x>\r\nCall-ID: inv-2\r\nCSeq: 1 INVITE\r\n"
       . "Contact: <sip:a\@127.0.0.1:$up>\r\nContent-Length: 0\r\n\r\n", 0, $to);
is(sip_status(recv_msg($u, 2)), 100, 'slow: 100');
is(sip_status(recv_msg($u, 3)), 180, 'the app\'s 180');
$u->send("CANCEL sip:slow\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i2;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=2\r\nTo: <sip:slow\@x>\r\nCall-ID: inv-2\r\nCSeq: 1 CANCEL\r\n"
       . "Content-Length: 0\r\n\r\n", 0, $to);
my %got;
for (1 .. 2) { my $m = recv_msg($u, 2) // last; $got{sip_header($m, 'CSeq')} = sip_status($m) }
is_deeply(\%got, { '1 CANCEL' => 200, '1 INVITE' => 487 }, 'CANCEL: 200, and 487 for the INVITE');
$u->send("ACK sip:slow\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i2;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=2\r\nTo: <sip:slow\@x>;tag=x\r\nCall-ID: inv-2\r\nCSeq: 1 ACK\r\n"
       . "Content-Length: 0\r\n\r\n", 0, $to);
ok(app_wait('uas', qr/^CANCELLED inv-2$/m), 'srf emitted cancel on the request');

# MESSAGE answered by the app
$u->send("MESSAGE sip:app\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-m3;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:app\@x>\r\nCall-ID: msg-3\r\nCSeq: 1 MESSAGE\r\n"
       . "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", 0, $to);
$resp = recv_msg($u, 3);
is(sip_status($resp) . ' ' . sip_header($resp, 'X-Reply'), '200 yes', 'srf answered MESSAGE');
ok(app_wait('uas', qr/^MESSAGE hello$/m), '... having read its body');

# the app goes: a request in its dialog gets 481; it comes back and works again
$u->send("INVITE sip:callee\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-i3;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=3\r\nTo: <sip:callee\@x>\r\nCall-ID: inv-3\r\nCSeq: 1 INVITE\r\n"
       . "Contact: <sip:a\@127.0.0.1:$up>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n", 0, $to);
recv_msg($u, 2);
$resp = recv_msg($u, 3);
is(sip_status($resp), 200, 'a call to the app: 200');
my ($ttag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
my $inv3 = "Via: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-X;rport\r\nMax-Forwards: 70\r\nFrom: <sip:a\@x>;tag=3\r\n"
         . "To: <sip:callee\@x>;tag=$ttag\r\nCall-ID: inv-3\r\n";
(my $ack = $inv3) =~ s/-X/-i3ack/;
$u->send("ACK sip:callee\@127.0.0.1:$port SIP/2.0\r\n${ack}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to);
app_stop($uas);
sleep 0.3;
(my $info = $inv3) =~ s/-X/-i3info/;
$u->send("INFO sip:callee\@127.0.0.1:$port SIP/2.0\r\n${info}CSeq: 2 INFO\r\nContent-Length: 0\r\n\r\n", 0, $to);
$resp = recv_msg($u, 2);
is(sip_status($resp), 481, 'its app gone: 481 for a request in the dialog') or diag($resp // 'nothing');
$uas = app_start('uas2', 'uas', "127.0.0.1:$ctl");
$s = sipp_start('call2', "-sf $scen/proxy_uac.xml -s callee 127.0.0.1:$port -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'the app reconnected: calls work again');

# tag filters: sip:blue... goes only to an app that authenticated with tag blue
sub message_to {
    my ($user, $n) = @_;
    $u->send("MESSAGE sip:$user\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-tg$n;rport\r\n"
           . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:$user\@x>\r\nCall-ID: tag-$n\r\nCSeq: 1 MESSAGE\r\n"
           . "Content-Type: text/plain\r\nContent-Length: " . length($user) . "\r\n\r\n$user", 0, $to);
    return sip_status(recv_resp($u, 'MESSAGE', 200, 3));
}
is(message_to('blue-1', 1), 503, 'tags: no app with tag blue: 503, the untagged app not asked');
$ENV{DR_TAGS} = 'green,blue';
my $blue = app_start('blue', 'uas', "127.0.0.1:$ctl");
delete $ENV{DR_TAGS};
is(message_to('blue-2', 2), 200, 'an app tagged green,blue connects: it answers');
ok(app_wait('blue', qr/^MESSAGE blue-2$/m), '... it, not the untagged one') or diag(app_log('blue'));
app_stop($blue);
app_stop($uas);

# --- a srf UAC calling a sipp UAS that challenges it ---------------------------------
my $bport = free_port();
$s = sipp_start('uasauth', "-sf $scen/uas_auth.xml -p $bport -i 127.0.0.1 -m 1");
sleep 0.3;
my $uac = app_start('uac', 'uac', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$bport", 'alice', 'secret');
ok(app_wait('uac', qr/^UAC-BYE-DONE/m, 10), 'srf UAC: challenged, retried with credentials, answered, hung up')
    or diag(app_log('uac'));
is(sipp_done($s), 0, '... and the sipp callee saw the whole call');
app_stop($uac);
# a callee challenging the BYE too: srf sends it again with credentials
# and no dialogId, only the Call-ID: it goes inside the dialog
$s = sipp_start('uasauthbye', "-sf $scen/uas_auth_bye.xml -p $bport -i 127.0.0.1 -m 1 -trace_msg");
sleep 0.3;
$uac = app_start('uacbye', 'uac', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$bport", 'alice', 'secret');
ok(app_wait('uacbye', qr/^UAC-BYE-DONE/m, 10), 'srf UAC: its BYE challenged, sent again with credentials')
    or diag(app_log('uacbye'));
is(sipp_done($s), 0, '... inside the dialog (tags, Call-ID), answered') or diag(sipp_output('uasauthbye'));
my ($bmsgs) = glob("$dir/uas_auth_bye_*_messages.log");
my @byecseq = do { local (@ARGV, $/) = $bmsgs // '/dev/null'; my $t = <> // ''; $t =~ /^BYE sip:[^\n]*\n(?:[^\n]+\n)*?CSeq: (\d+) BYE/mg };
is(scalar(@byecseq), 2, 'two BYEs reached the callee');
is($byecseq[1] // 0, ($byecseq[0] // 0) + 1, '... the second with the dialog\'s next CSeq');
app_stop($uac);
# a callee answering reliably: the stack PRACKs, srf's own PRACK is done already
$s = sipp_start('uasrel', "-sf $scen/uas_100rel.xml -p $bport -i 127.0.0.1 -m 1");
sleep 0.3;
$uac = app_start('uacrel', 'uac', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$bport");
ok(app_wait('uacrel', qr/^UAC-BYE-DONE/m, 10), 'srf UAC: a reliable 183, answered, hung up') or diag(app_log('uacrel'));
like(app_log('uacrel'), qr/^UAC-PROVISIONAL 183$/m, '... having seen the 183');
is(sipp_done($s), 0, 'the sipp callee got one PRACK, then ACK and BYE') or diag(sipp_output('uasrel'));
app_stop($uac);

# --- a srf B2BUA between a raw caller and sipp callees --------------------------------
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
my $asdp = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n";
sub a_req {
    my ($method, $cid, $branch, $cseq, $totag, $body) = @_;
    $body //= '';
    return "$method sip:bob\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-$branch;rport\r\n"
         . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=a-$cid\r\nTo: <sip:bob\@x>" . ($totag ? ";tag=$totag" : '')
         . "\r\nCall-ID: $cid\r\nCSeq: $cseq $method\r\nContact: <sip:a\@127.0.0.1:$up>\r\n"
         . ($body ne '' ? "Content-Type: application/sdp\r\n" : '') . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
$s = sipp_start('b2breinv', "-sf $scen/uas_reinvite.xml -p $bport -i 127.0.0.1 -m 1");
sleep 0.3;
my $b2b = app_start('b2b', 'b2bua', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$bport");
$u->send(a_req('INVITE', 'b2b-1', 'b1', 1, undef, $asdp), 0, $to);
$resp = recv_resp($u, 'INVITE', 101, 5);
is(sip_status($resp), 180, 'B2BUA: B\'s 180 relayed to A') or diag($resp // 'nothing');
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_status($resp), 200, '... then its 200') or diag(app_log('b2b'));
like($resp // '', qr/\r\n\r\nv=0.*o=bob /s, '... with B\'s answer');
my ($atag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send(a_req('ACK', 'b2b-1', 'b1a', 1, $atag), 0, $to);
ok(app_wait('b2b', qr/^B2B-CONNECTED a=\S+ b=\S+$/m), 'srf: createB2BUA resolved with both dialogs');
(my $hold = $asdp) =~ s/a=sendrecv/a=sendonly/;
$hold =~ s/o=a 1 1/o=a 1 2/;
$u->send(a_req('INVITE', 'b2b-1', 'b2', 2, $atag, $hold), 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_status($resp), 200, 're-INVITE from A: 200') or diag(app_log('b2b'));
like($resp // '', qr/a=recvonly/, '... carrying B\'s answer to the relayed offer');
$u->send(a_req('ACK', 'b2b-1', 'b2a', 2, $atag), 0, $to);
ok(app_wait('b2b', qr/^REINVITE-RELAYED$/m), 'srf relayed it with uac.modify');
$u->send(a_req('BYE', 'b2b-1', 'b3', 3, $atag), 0, $to);
is(sip_status(recv_resp($u, 'BYE', 200, 3)), 200, 'BYE from A: 200');
is(sipp_done($s), 0, 'sipp B: X-B2B, 180, 200, ACK, the re-INVITE with A\'s offer, ACK, BYE')
    or diag(sipp_output('b2breinv'));
ok(app_wait('b2b', qr/^DESTROY a$/m), 'srf: A\'s dialog ended by its BYE (the app ended B\'s)');

# CANCEL from A while B rings
$s = sipp_start('b2bcancel', "-sf $scen/uas_ring_cancel.xml -p $bport -i 127.0.0.1 -m 1");
sleep 0.3;
$u->send(a_req('INVITE', 'b2b-2', 'c1', 1, undef, $asdp), 0, $to);
is(sip_status(recv_resp($u, 'INVITE', 101, 5)), 180, 'B2BUA: B rings, A hears it');
$u->send(a_req('CANCEL', 'b2b-2', 'c1', 1), 0, $to);
%got = ();
for (1 .. 4) { my $m = recv_msg($u, 2) // last; $got{sip_header($m, 'CSeq')} = sip_status($m) if sip_status($m) >= 200 }
is_deeply(\%got, { '1 CANCEL' => 200, '1 INVITE' => 487 }, 'A: 200 to its CANCEL, 487 to its INVITE');
$u->send(a_req('ACK', 'b2b-2', 'c1', 1, 'x'), 0, $to);
is(sipp_done($s), 0, 'sipp B: the CANCEL reached it, its 487 was ACKed') or diag(sipp_output('b2bcancel'));
ok(app_wait('b2b', qr/^CANCELLED-A$/m), 'srf saw the cancel');
ok(app_wait('b2b', qr/^B2B-FAILED 487$/m), 'createB2BUA rejected with 487') or diag(app_log('b2b'));
app_stop($b2b);

# --- 100rel: a srf UAS sends a reliable 183, gets the PRACK, answers -------------------
my $rel = app_start('rel', 'uas', "127.0.0.1:$ctl");
$s = sipp_start('rel', "-sf $scen/uac_100rel.xml -inf " . write_file('rel.csv', "SEQUENTIAL\nuas;-;0;\n")
                . " -s rel -m 1 -p " . free_port() . " -i 127.0.0.1 127.0.0.1:$port");
is(sipp_done($s), 0, 'sipp: reliable 183 (RSeq), PRACK answered, 200, ACK, BYE') or diag(sipp_output('rel'));
my $rl = app_wait('rel', qr/^DESTROY uas/m) // app_log('rel');
like($rl, qr/^REL-SENT rseq=1 dialog=\S+;from-tag=\S+$/m, 'srf: the reliable 183 went out with RSeq and a dialog id');
like($rl, qr/^PRACK rack=1 1 INVITE$/m, 'srf: the PRACK reached it in that dialog');
like($rl, qr/^UAS-DIALOG id=.*\nDESTROY uas reason=bye$/ms, '... then its 200 made the dialog, ended by the BYE');
# session timers: the caller is the refresher and does not refresh: the
# stack ends the call (BYE) and tells the app (an unsolicited BYE)
$u->send("INVITE sip:callee\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-se1;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=se\r\nTo: <sip:callee\@x>\r\nCall-ID: se-1\r\nCSeq: 1 INVITE\r\n"
       . "Contact: <sip:a\@127.0.0.1:$up>\r\nSupported: timer\r\nSession-Expires: 2;refresher=uac\r\n"
       . "Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n", 0, $to);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_header($resp, 'Session-Expires'), '2;refresher=uac', 'the app\'s 200 carries the session interval, the caller refreshing');
my ($setag) = sip_header($resp, 'To') =~ /tag=([^;\s]+)/;
$u->send("ACK sip:callee\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-se1a;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=se\r\nTo: <sip:callee\@x>;tag=$setag\r\nCall-ID: se-1\r\n"
       . "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to);
my $t0 = time;
my $sebye = recv_request($u, 'BYE', 5);
ok($sebye && time - $t0 >= 1.5, sprintf('no refresh: the stack sent BYE after %.1f s', time - $t0));
if ($sebye) {   # answer it
    (my $ok = $sebye) =~ s/^BYE [^\r]*/SIP\/2.0 200 OK/;
    $u->send($ok, 0, $to);
}
like(app_wait('rel', qr/^DESTROY uas reason=SIP;text="ended by sipchain"$/m) // app_log('rel'),
     qr/^DESTROY uas reason=SIP;text="ended by sipchain"$/m, 'srf: the dialog destroyed by an unsolicited BYE');
app_stop($rel);

# --- a srf proxy app forking to two sipp callees --------------------------------------
my ($fp1, $fp2) = (free_port(), free_port());
my $busy = sipp_start('fork486', "-sf $scen/uas_busy.xml -p $fp1 -i 127.0.0.1 -m 1");
my $ans = sipp_start('fork200', "-sf $scen/uas_lossy.xml -p $fp2 -i 127.0.0.1 -m 1");
sleep 0.3;
my $prx = app_start('proxy', 'proxy', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$fp1", "sip:bob\@127.0.0.1:$fp2");
$s = sipp_start('forkcall', "-sf $scen/proxy_uac.xml -s bob 127.0.0.1:$port -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'srf proxyRequest (simultaneous): the caller got the 200, ACK and BYE went along the route')
    or diag(sipp_output('forkcall'));
is(sipp_done($busy), 0, 'fork 1: INVITE, 486, ACK') or diag(sipp_output('fork486'));
is(sipp_done($ans), 0, 'fork 2: INVITE, 200, ACK, BYE') or diag(sipp_output('fork200'));
like(app_wait('proxy', qr/^PROXY-DONE/m) // app_log('proxy'), qr/^PROXY-DONE connected=true final=200 finals=200,486$/m,
     'srf: both final answers reported, connected with 200');
app_stop($prx);

stop_server($pid);
my $text = do { local (@ARGV, $/) = $log; <> };
unlike($text, qr/\[error\]|ERROR|sanitizer/i, 'no error in the log');
unlike($text, qr/never let go|still with drachtio/, 'no request the module answered stayed allocated');
# --- outbound mode, behind digest-auth and registrar ---------------------------------
# sipchain connects to an app that listens (srf.listen) for each request
# the native modules before it let through.
my $port2 = free_port();
my $appport = free_port();
my $users = write_file('users.yaml', "alice: { password: \"secret\" }\n");
my ($pid2, undef, $log2) = start_server(port => $port2, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port2" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: digest-auth
    methods: [ REGISTER, INVITE ]
    realm: example.com
    users: $users
    algorithms: [ MD5 ]     # sipp answers MD5 only
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com, 127.0.0.1 ]     # sipp registers at sip:127.0.0.1:port
  - module: drachtio
    methods: [ INVITE, MESSAGE ]
    listen: "127.0.0.1:${\ free_port()}"
    secret: cymru
    outbound: "tcp://127.0.0.1:$appport"
Y
my $out = app_start('out', 'uas', "listen:$appport");
$s = sipp_start('authcall', "-sf $scen/uac_auth_call.xml -s alice -au alice -ap secret -m 1 -p " . free_port() . " -i 127.0.0.1 127.0.0.1:$port2");
is(sipp_done($s), 0, 'REGISTER challenged and bound by the registrar; INVITE challenged, then answered by the app; BYE')
    or diag(sipp_output('authcall'));
my $ol = app_wait('out', qr/^DESTROY uas/m) // app_log('out');
is(() = $ol =~ /^INVITE /mg, 1, 'outbound mode: only the authenticated INVITE reached the app');
like($ol, qr/^INVITE from=alice to= txn=\S+ auth=alice$/m, '... with the credentials digest-auth accepted');
like($ol, qr/^DESTROY uas reason=bye$/m, '... and the caller\'s BYE in its dialog');
app_stop($out);
my ($u2, $up2) = udp_peer();
$u2->send("MESSAGE sip:app\@127.0.0.1:$port2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up2;branch=z9hG4bK-o1;rport\r\n"
        . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:app\@x>\r\nCall-ID: out-1\r\nCSeq: 1 MESSAGE\r\n"
        . "Content-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port2, inet_aton('127.0.0.1')));
$resp = recv_msg($u2, 3);
is(sip_status($resp), 480, 'the app gone: 480') or diag($resp // 'nothing');
stop_server($pid2);
# --- TLS both ways -----------------------------------------------------------------
# srf.connect({tls}) to a TLS listener, and tls:// outbound to srf.listen({tls});
# the certificates name 127.0.0.1 (subjectAltName), from a test CA
sub sh { my ($c) = @_; system("$c >/dev/null 2>&1") == 0 or die "failed: $c" }
sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=dr-ca -keyout $dir/ca.key -out $dir/ca.pem");
my $ext = write_file('san.ext', "subjectAltName=IP:127.0.0.1\n");
for my $who (qw(sc app)) {
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=$who -keyout $dir/$who.key -out $dir/$who.csr");
    sh("openssl x509 -req -in $dir/$who.csr -CA $dir/ca.pem -CAkey $dir/ca.key -CAcreateserial -days 2 -extfile $ext -out $dir/$who.pem");
}
my ($port3, $ctl3, $app3, $ctl6) = (free_port(), free_port(), free_port(), free_port());
my ($pid3, undef, $log3) = start_server(port => $port3, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port3" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: drachtio
    methods: [ MESSAGE ]
    listen: "127.0.0.1:$ctl3"
    secret: cymru
    tls: { cert: "$dir/sc.pem", key: "$dir/sc.key" }
  - module: drachtio
    methods: [ INVITE ]
    listen: "127.0.0.1:${\ free_port()}"
    secret: cymru
    outbound: "tls://127.0.0.1:$app3"
    tls: { ca: "$dir/ca.pem" }
  - module: drachtio
    methods: [ OPTIONS ]
    listen: "[::1]:$ctl6"
    secret: cymru
    idle_timeout: 1
Y
$ENV{DR_TLS_CA} = "$dir/ca.pem";
my $tapp = app_start('tlsin', 'uas', "127.0.0.1:$ctl3");
delete $ENV{DR_TLS_CA};
like(app_log('tlsin'), qr/^CONNECTED hostport=udp\/127\.0\.0\.1:$port3/m, 'srf connected over TLS, sipchain\'s certificate checked');
my $to3 = pack_sockaddr_in($port3, inet_aton('127.0.0.1'));
$u->send("MESSAGE sip:app\@127.0.0.1:$port3 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-t1;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:app\@x>\r\nCall-ID: tls-1\r\nCSeq: 1 MESSAGE\r\n"
       . "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\ntls", 0, $to3);
$resp = recv_resp($u, 'MESSAGE', 200, 3);
is(sip_status($resp) . ' ' . sip_header($resp, 'X-Reply'), '200 yes', '... and answered a MESSAGE through it');
my $plain = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ctl3", Proto => 'tcp') or die;
syswrite($plain, frame('p1|authenticate|cymru|'));
ok(!defined(read_frame($plain, 2)), 'plain TCP to the TLS listener: no answer, closed');
app_stop($tapp);
@ENV{qw(DR_TLS_CERT DR_TLS_KEY)} = ("$dir/app.pem", "$dir/app.key");
my $tout = app_start('tlsout', 'uas', "listen:$app3");
delete @ENV{qw(DR_TLS_CERT DR_TLS_KEY)};
$s = sipp_start('tlscall', "-sf $scen/proxy_uac.xml -s callee 127.0.0.1:$port3 -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'tls:// outbound: the app\'s certificate checked, the call answered and ended')
    or diag(sipp_output('tlscall'));
like(app_wait('tlsout', qr/^DESTROY uas/m) // '', qr/^UAS-DIALOG id=/m, '... by the app listening with TLS');
app_stop($tout);
# an app whose certificate names another address: refused, 480
sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout $dir/bad.key -out $dir/bad.pem");
@ENV{qw(DR_TLS_CERT DR_TLS_KEY)} = ("$dir/bad.pem", "$dir/bad.key");
$tout = app_start('tlsbad', 'uas', "listen:$app3");
delete @ENV{qw(DR_TLS_CERT DR_TLS_KEY)};
$u->send("INVITE sip:callee\@127.0.0.1:$port3 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-t2;rport\r\n"
       . "Max-Forwards: 70\r\nFrom: <sip:a\@x>;tag=1\r\nTo: <sip:callee\@x>\r\nCall-ID: tls-2\r\nCSeq: 1 INVITE\r\n"
       . "Contact: <sip:a\@127.0.0.1:$up>\r\nContent-Length: 0\r\n\r\n", 0, $to3);
$resp = recv_resp($u, 'INVITE', 200, 5);
is(sip_status($resp), 480, 'an app whose certificate does not verify: 480') or diag($resp // 'nothing');
unlike(app_log('tlsbad'), qr/^INVITE/m, '... and it never saw the request');
app_stop($tout);
# an IPv6 listener; a connection silent past idle_timeout is closed
use IO::Socket::IP;
my $v6 = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $ctl6, Proto => 'tcp');
ok($v6, 'the listener on [::1] takes a connection') or diag("connect [::1]:$ctl6: $@");
SKIP: {
    skip 'no IPv6 connection', 3 unless $v6;
    syswrite($v6, frame('v1|authenticate|cymru|'));
    like(read_frame($v6), qr/\|response\|v1\|OK\|udp\/127\.0\.0\.1:$port3\|/, 'authenticate over IPv6: OK');
    my $t0 = time;
    ok(!defined(read_frame($v6, 4)), 'silent for idle_timeout (1 s): closed');
    cmp_ok(time - $t0, '<', 3.5, sprintf('... after %.1f s', time - $t0));
}
stop_server($pid3);
my $text3 = do { local (@ARGV, $/) = $log3; <> };
like($text3, qr/certificate verify failed/, 'the reason is logged');
like($text3, qr/application \[::1\]:\d+: idle timeout/, 'the idle timeout is logged');
# the framework prefixes the module's lines: the module names itself no more
like($text3, qr/\bdrachtio: application \S+: [^\n]*certificate verify failed/, 'an application line: "drachtio: application ..."');
unlike($text3, qr/drachtio: drachtio:/, 'never "drachtio: drachtio:"');
done_testing();
