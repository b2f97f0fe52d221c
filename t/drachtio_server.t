# The drachtio module's drachtio-server behaviours (issue 21, points
# 6-10), end to end with drachtio-srf applications
# (t/drachtio/srv_app.js), sipp peers and raw sockets: OPTIONS nobody
# routes answered 200 (and always for configured User-Agents), the
# spammer list (603, or discarded) before any application, HTTP request
# routing (request_handlers: reject, redirect, proxy, route to a listening
# application or a tagged one, malformed answers, the timeout and the
# fallback, CANCEL while asking), the prompt stop on SIGTERM, NO for
# unknown control commands with the connection kept; and a registrar made
# of drachtio's published middleware (t/drachtio/srv_registrar.js) with
# two sipp phones.
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
BAIL_OUT('drachtio-srf and the drachtio middleware not installed: run scripts/install-deps.sh')
    unless -d 't/drachtio/node_modules/drachtio-srf' && -d 't/drachtio/node_modules/drachtio-mw-digest-auth';
my $mods = module_dir();
my $dir = tmpdir();
my $scen = "$ENV{PWD}/t/sipp";

# --- applications -----------------------------------------------------------------
sub app_start { my ($name, $script, @args) = @_;
    return node_app($name, script => $script, args => \@args, ready => qr/^(CONNECTED|LISTENING|REPLY)/m) }

# Whether process pid has ended (gone, or a zombie not yet reaped: the
# reaping is stop_server's, which SipTest's END relies on).
sub exited { my ($p) = @_; open(my $f, '<', "/proc/$p/stat") or return 1; my $st = <$f> // ''; return $st =~ /^\d+ \(.*\) Z/ }

my ($u, $up) = udp_peer();
my $reqs = 0;
# A request from the raw peer $u; the first response to it of at least min.
sub request {
    my ($port, $method, $user, %o) = @_;
    my $n = ++$reqs . "x$$";
    my $body = $o{body} // '';
    my $params = $o{params} // '';
    my $msg = "$method sip:$user\@127.0.0.1:$port$params SIP/2.0\r\n"
            . "Via: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-$n;rport\r\nMax-Forwards: 70\r\n"
            . "From: <sip:alice\@x>;tag=f$n\r\nTo: <sip:$user\@x>\r\nCall-ID: $method-$user-$n\r\n"
            . "CSeq: 1 $method\r\nContact: <sip:alice\@127.0.0.1:$up>\r\n"
            . ($o{ua} ? "User-Agent: $o{ua}\r\n" : '')
            . ($body ne '' ? "Content-Type: text/plain\r\n" : '') . "Content-Length: " . length($body) . "\r\n\r\n$body";
    $u->send($msg, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    return $msg if $o{no_wait};
    return recv_resp($o{min} // 200, $o{secs} // 3);
}
sub recv_resp {
    my ($min, $secs) = @_;
    my $end = time + $secs;
    while ((my $l = $end - time) > 0) {
        my $m = recv_msg($u, $l) // return undef;
        return $m if sip_status($m) ne 'none' && sip_status($m) >= $min;
    }
    return undef;
}
sub reason { my ($r) = @_; return defined $r && $r =~ /^SIP\/2\.0 (\d+ [^\r]*)/ ? $1 : 'none' }
# The ACK of a non-2xx final answer to INVITE msg.
sub ack_for {
    my ($port, $inv, $resp) = @_;
    my ($ruri) = $inv =~ /^INVITE (\S+)/;
    my ($via) = $inv =~ /^(Via: [^\r]*)\r$/m;
    my ($from) = $inv =~ /^(From: [^\r]*)\r$/m;
    my ($cid) = $inv =~ /^(Call-ID: [^\r]*)\r$/m;
    $u->send("ACK $ruri SIP/2.0\r\n$via\r\nMax-Forwards: 70\r\n$from\r\nTo: " . sip_header($resp, 'To')
           . "\r\n$cid\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
}

# --- config errors ------------------------------------------------------------------
my $cport = free_port();
for my $bad (
    [ "    spammers: { action: bounce, headers: { User-Agent: [ x ] } }\n", qr/:\d+:\d+: drachtio: spammers "action" must be reject or discard/ ],
    [ "    spammers: { headers: { User-Agent: friendly-scanner } }\n", qr/:\d+:\d+: drachtio: a spammer header's patterns must be a list of strings/ ],
    [ "    spammers: { action: reject }\n", qr/:\d+:\d+: drachtio: spammers needs "headers"/ ],
    [ "    spammers: { status: 200, headers: { To: [ x ] } }\n", qr/:\d+:\d+: drachtio: spammers "status" must be 400 to 699/ ],
    [ "    options_user_agents: pinger\n", qr/:\d+:\d+: drachtio: "options_user_agents" must be a list of strings/ ],
    [ "    request_handlers: [ { method: INVITE } ]\n", qr/:\d+:\d+: drachtio: a request handler needs "url"/ ],
    [ "    request_handlers: [ { url: \"ftp://127.0.0.1/x\" } ]\n", qr/:\d+:\d+: drachtio: a request handler's url must be http\[s\]:/ ],
    [ "    request_handlers: [ { url: \"http://127.0.0.1/x\", http_method: PUT } ]\n", qr/:\d+:\d+: drachtio: "http_method" must be GET or POST/ ],
    [ "    http_fallback: sometimes\n", qr/:\d+:\d+: drachtio: "http_fallback" must be app or a status 300-699/ ],
    [ "    http_timeout: 5\n", qr/:\d+:\d+: drachtio: "http_timeout" is in milliseconds, at least 10/ ],
) {
    my $f = write_file("bad-$cport.yaml", "server:\n  listen: [ \"udp:127.0.0.1:$cport\" ]\nmodules_path: $mods\n"
                     . "chain:\n  - module: drachtio\n    secret: x\n    listen: \"127.0.0.1:$cport\"\n$bad->[0]");
    my $out = `${\ sipchain()} -t -c $f 2>&1`;
    like($out, $bad->[1], "config refused: $bad->[1]");
}

# --- server A: OPTIONS, spammers, unknown commands, the stop ---------------------------
my ($port, $ctl) = (free_port(), free_port());
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  limits: { stop_timeout: 10 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctl"
    secret: cymru
    options_user_agents: [ "monit-ping" ]
    spammers:
      action: reject
      headers:
        User-Agent: [ friendly-scanner, sipvicious ]
        To: [ spamvictim ]
Y

# point 10: well-framed but unknown commands get NO, the connection stays
my $v = app_start('verbs', 'srv_app.js', 'verbs', "127.0.0.1:$ctl");
my $vl = app_wait('verbs', qr/^(DONE|CLOSED)/m, 10) // app_log('verbs');
like($vl, qr/^REPLY \S+\|response\|a1\|OK\|/m, 'verbs: authenticated');
like($vl, qr/^REPLY \S+\|response\|a2\|NO\|unknown verb "frobnicate"$/m, 'an unknown verb: NO with the reason');
like($vl, qr/^REPLY \S+\|response\|a3\|NO\|a command needs a msgId and a verb$/m, 'a frame of one token: NO');
like($vl, qr/^REPLY \S+\|response\|a4\|NO\|too few tokens for "route"$/m, 'route without its verb: NO');
like($vl, qr/^REPLY \S+\|response\|a5\|OK\|pong$/m, '... and the connection is still up: ping answered');
like($vl, qr/^DONE$/m, '... not closed by sipchain');
unlike($vl, qr/^CLOSED\n(?:.*\n)*DONE/m, 'closed only after the app was done');
app_stop($v);

# point 6: OPTIONS no application routed: 200 from the module
my $opt = app_start('opt', 'srv_app.js', 'options', "127.0.0.1:$ctl");
my $s = sipp_start('opt200', "-sf $scen/srv_options_200.xml -m 1 -p " . free_port() . " -i 127.0.0.1 127.0.0.1:$port");
is(sipp_done($s), 0, 'OPTIONS with an app connected that routes only INVITE: 200 from sipchain') or diag(sipp_output('opt200'));
app_stop($opt);
$opt = app_start('optroute', 'srv_app.js', 'options', "127.0.0.1:$ctl", 'route');
my $r = request($port, 'OPTIONS', 'ping');
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '200 srf', 'an app that routes OPTIONS answers them itself');
$r = request($port, 'OPTIONS', 'ping', ua => 'Acme monit-ping/1.0');
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '200 ', 'OPTIONS from options_user_agents: 200 from sipchain, not the app');
ok(app_wait('optroute', qr/^OPTIONS $/m), 'the app saw the first') and unlike(app_log('optroute'), qr/monit-ping/, '... not the second');
app_stop($opt);

# point 7: spammers, before any application sees them
my $cnt = app_start('count', 'srv_app.js', 'count', "127.0.0.1:$ctl");
$s = sipp_start('spam603', "-sf $scen/srv_spam_603.xml -s callee -m 1 -p " . free_port() . " -i 127.0.0.1 127.0.0.1:$port");
is(sipp_done($s), 0, 'spammer (User-Agent friendly-scanner): 603, sipp ACKs') or diag(sipp_output('spam603'));
$r = request($port, 'MESSAGE', 'spamvictim-7', body => 'x');
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '603 ', 'a To user containing a spammers pattern: 603');
$r = request($port, 'MESSAGE', 'friend', body => 'x', ua => 'SIPVicious 0.3');
is(sip_status($r), 603, 'User-Agent patterns ignore case');
$r = request($port, 'MESSAGE', 'friend', body => 'x', ua => 'Acme phone');
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '200 count', 'an ordinary request reaches the app');
$s = sipp_start('callA', "-sf $scen/proxy_uac.xml -s callee 127.0.0.1:$port -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'a call to the app, answered and ended') or diag(sipp_output('callA'));
my $cl = app_wait('count', qr/^DESTROY/m) // app_log('count');
is(() = $cl =~ /^(INVITE|MESSAGE) /mg, 2, 'the app saw only the ordinary MESSAGE and the call');
like(wait_log($log, qr/spammer from/), qr/drachtio: spammer from 127\.0\.0\.1:\d+ \(User-Agent contains "friendly-scanner"\): rejected/,
     'the spammer is logged');
app_stop($cnt);

# point 9: SIGTERM with an app holding an unanswered MESSAGE and no call up
my $hold = app_start('hold', 'srv_app.js', 'hold', "127.0.0.1:$ctl");
my $held = request($port, 'MESSAGE', 'held', body => 'x', no_wait => 1);
ok(app_wait('hold', qr/^HELD /m), 'the app holds a MESSAGE unanswered');
my $t0 = time;
is(stop_server($pid), 0, 'SIGTERM: exit status 0');     # (it polls every 50 ms)
my $gone = time - $t0;
ok($gone < 1, sprintf('... after %.2f s, not after stop_timeout (10 s)', $gone));
$r = recv_resp(200, 2);
is(sip_status($r) . ' ' . ($r =~ /^SIP\/2\.0 \d+ ([^\r]*)/ ? $1 : ''), '503 Server Stopping', 'the held MESSAGE got 503 at once');
app_stop($hold);
my $text = do { local (@ARGV, $/) = $log; <> };
unlike($text, qr/stop timeout|still with drachtio|never let go|sanitizer/, 'nothing waited for, nothing left');

# point 9 with a call the app holds ringing: that is waited for (up to
# stop_timeout), but nothing new is taken meanwhile
my ($portf, $ctlf) = (free_port(), free_port());
my ($pidf, undef, $logf) = start_server(port => $portf, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$portf" ]
  log: { level: info }
  limits: { stop_timeout: 2 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctlf"
    secret: cymru
Y
my ($sink, $sinkp) = udp_peer();
$hold = app_start('hold2', 'srv_app.js', 'hold', "127.0.0.1:$ctlf", "127.0.0.1:$sinkp", "$dir/send-now");
write_file('send-now', '');
like(app_wait('hold2', qr/^(SENT|SEND-ERROR)/m) // '', qr/^SENT/m, 'before the stop the app sends a new request');
my $early = recv_msg($sink, 3);
like($early // '', qr/^MESSAGE sip:late\@/, '... and it arrives');
$sink->send(sip_answer($early, '200 OK'), 0, pack_sockaddr_in($portf, inet_aton('127.0.0.1'))) if $early;
my $rung = request($portf, 'INVITE', 'ringing', no_wait => 1);
is(sip_status(recv_resp(101, 3)), 180, 'the app rings a call and holds it');
$t0 = time;
kill 'TERM', $pidf;
sleep 0.3;
ok(!exited($pidf), 'SIGTERM with a call ringing: still running for it');
ok(!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ctlf", Proto => 'tcp', Timeout => 2),
   '... but the control port takes no new application');
request($portf, 'MESSAGE', 'late', body => 'x', no_wait => 1);
ok(!app_wait('hold2', qr/^HELD MESSAGE-late/m, 1), '... and no new request reaches the app');
write_file('send-now', '');
like(app_wait('hold2', qr/^SEND-ERROR/m) // '', qr/^SEND-ERROR server stopping: no new requests$/m,
     '... and a new request the app sends is refused: NOK, srf\'s error');
my $leak;
while (defined(my $m = recv_msg($sink, 0.3))) { $leak = $m if $m =~ /^MESSAGE /; }
ok(!defined $leak, '... nothing sent');
undef $gone;
while (time - $t0 < 15) { if (exited($pidf)) { $gone = time - $t0; last } sleep 0.02 }
ok(defined $gone && $gone >= 1.5 && $gone < 5, sprintf('... and exits after stop_timeout (2 s): %.1f s', $gone // 99));
is(stop_server($pidf), 0, '... with status 0');
is(sip_status(recv_resp(200, 2)), 503, 'the ringing call got 503 at the end');
ack_for($portf, $rung, '');
app_stop($hold);

# --- server B: spammers discarded, OPTIONS left to no_app ----------------------------------
my ($portb, $ctlb) = (free_port(), free_port());
my ($pidb, undef, $logb) = start_server(port => $portb, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$portb" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctlb"
    secret: cymru
    options_200: false
    spammers: { action: discard, headers: { From: [ scanner ] } }
Y
$r = request($portb, 'OPTIONS', 'ping');
is(sip_status($r), 503, 'options_200: false: OPTIONS with no app gets no_app\'s 503');
$u->send("MESSAGE sip:x\@127.0.0.1:$portb SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$up;branch=z9hG4bK-dsc;rport\r\nMax-Forwards: 70\r\n"
       . "From: <sip:scanner99\@x>;tag=1\r\nTo: <sip:x\@x>\r\nCall-ID: dsc-1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
         0, pack_sockaddr_in($portb, inet_aton('127.0.0.1')));
ok(!defined recv_msg($u, 1.5), 'spammers action discard: no answer at all');
like(wait_log($logb, qr/spammer from/), qr/\(From contains "scanner"\): discarded/, '... logged as discarded');
is(stop_server($pidb), 0, 'server B stops cleanly');

# --- server C: HTTP request routing (request_handlers) -------------------------------------
my ($portc, $ctlc, $hport, $lport, $bport) = (free_port(), free_port(), free_port(), free_port(), free_port());
my $http = app_start('http', 'srv_app.js', 'http', $hport, "proxy=sip:bob\@127.0.0.1:$bport", "route=127.0.0.1:$lport");
my ($pidc, undef, $logc) = start_server(port => $portc, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$portc" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctlc"
    secret: cymru
    request_handlers:
      - { method: INVITE, url: "http://127.0.0.1:$hport/route", http_method: POST }
      - { method: "*", url: "http://127.0.0.1:$hport/any" }
    http_timeout: 1000
    http_fallback: app
Y
my $listen = app_start('listen', 'srv_app.js', 'count', "listen:$lport", 'routed');
my $blue = app_start('blue', 'srv_app.js', 'count', "127.0.0.1:$ctlc", 'blue');
my $inv = request($portc, 'INVITE', 'reject', params => ';foo=bar', no_wait => 1);
$r = recv_resp(200, 3);
is(sip_status($r) . ' ' . ($r // '' ) =~ s/^SIP\/2\.0 \d+ ([^\r]*).*/$1/sr, '486 Busy By Routing', 'action reject: the status and reason');
ack_for($portc, $inv, $r);
my $hl = app_wait('http', qr/^HTTP POST /m) // app_log('http');
like($hl, qr{^HTTP POST /route/\?method=INVITE&domain=127\.0\.0\.1&protocol=udp&source_address=127\.0\.0\.1&fromUser=alice&toUser=reject&uriUser=reject&contentType=&uri=sip%3Areject%40127\.0\.0\.1%3A$portc%3Bfoo%3Dbar&foo=bar }m,
     'POST to the handler URL + "/" with drachtio-server\'s query string');
like($hl, qr{^HTTP POST \S+ body=INVITE sip:reject\@127\.0\.0\.1:$portc;foo=bar SIP/2\.0 ctype=text/plain; charset=UTF-8 }m,
     '... the SIP message as a text/plain body');
like($hl, qr{^HTTP POST \S+ .* host=127\.0\.0\.1:$hport$}m, '... Host with the port');
$r = request($portc, 'MESSAGE', 'redirect', body => 'x');
is(sip_status($r), 302, 'action redirect: 302');
is(join(',', $r =~ /^Contact: ([^\r]*)\r$/mg), '<sip:a@192.0.2.1>,<sip:b@192.0.2.2>', '... with each contact');
like(app_log('http'), qr{^HTTP GET /any/\?method=MESSAGE&}m, 'the "*" handler, by GET, for MESSAGE');
$r = request($portc, 'MESSAGE', 'tagged', body => 'x');
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '200 blue', 'action route with tag: the connected app with that tag');
$r = request($portc, 'OPTIONS', 'tagged');
is(reason($r), '480 No application with that tag routes this method',
   'action route with tag for OPTIONS: the app with the tag routes only INVITE and MESSAGE: 480, as drachtio-server');
$r = request($portc, 'OPTIONS', 'ping');
is(sip_status($r), 404, 'OPTIONS with a "*" handler: the routing service decides (404)');
$r = request($portc, 'MESSAGE', 'garbage', body => 'x');
is(sip_status($r), 500, 'an answer that is not JSON: 500');
$r = request($portc, 'MESSAGE', 'nodata', body => 'x');
is(sip_status($r), 500, 'JSON without data: 500');
$r = request($portc, 'MESSAGE', 'forge', body => 'x');
is(sip_status($r) . ' ' . sip_header($r, 'X-Forged'), '500 ', 'a reason with CR LF: 500, no header forged');
$r = request($portc, 'MESSAGE', 'error', body => 'x');
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '200 blue', 'HTTP 500 from the service: http_fallback app, the connected app');
$t0 = time;
$r = request($portc, 'MESSAGE', 'slow', body => 'x', secs => 5);
my $took = time - $t0;
is(sip_status($r) . ' ' . sip_header($r, 'X-App'), '200 blue', 'no HTTP answer: after http_timeout, the fallback');
ok($took >= 0.9 && $took < 4, sprintf('... after %.1f s (http_timeout 1 s)', $took));
like(wait_log($logc, qr/timed out/), qr/request handler http:\S+\/any: timed out; routed to the applications/, '... logged');
# CANCEL while the service is asked
$inv = request($portc, 'INVITE', 'slow', no_wait => 1);
sleep 0.3;
(my $cancel = $inv) =~ s/^INVITE /CANCEL /;
$cancel =~ s/CSeq: 1 INVITE/CSeq: 1 CANCEL/;
$cancel =~ s/Contact: [^\r]*\r\n//;
$u->send($cancel, 0, pack_sockaddr_in($portc, inet_aton('127.0.0.1')));
my %got;
for (1 .. 3) { my $m = recv_resp(200, 2) // last; $got{sip_header($m, 'CSeq')} = sip_status($m); ack_for($portc, $inv, $m) if $m =~ /CSeq: 1 INVITE/ }
is_deeply(\%got, { '1 CANCEL' => 200, '1 INVITE' => 487 }, 'CANCEL while asking: 200, and 487 for the INVITE');
# action proxy, to a sipp callee; action route with uri, to an app listening
my $callee = sipp_start('callee', "-sf $scen/uas_answer.xml -p $bport -i 127.0.0.1 -m 1");
sleep 0.3;
$s = sipp_start('proxycall', "-sf $scen/proxy_uac.xml -s proxy 127.0.0.1:$portc -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'action proxy: the call reached the destination, answered and ended') or diag(sipp_output('proxycall'));
is(sipp_done($callee), 0, '... the sipp callee saw INVITE, ACK and BYE') or diag(sipp_output('callee'));
$s = sipp_start('routecall', "-sf $scen/proxy_uac.xml -s route 127.0.0.1:$portc -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'action route with uri: sipchain connected to the listening app, which answered') or diag(sipp_output('routecall'));
like(app_wait('listen', qr/^DESTROY/m) // app_log('listen'), qr/^INVITE to=route .*^UAS-DIALOG /ms, '... the app that srf.listen()s');
unlike(app_log('blue'), qr/^INVITE/m, 'no INVITE reached the connected app');
app_stop($listen);
app_stop($http);
# the service gone, a fixed fallback status (a second server)
is(stop_server($pidc), 0, 'server C stops cleanly');
my $textc = do { local (@ARGV, $/) = $logc; <> };
like($textc, qr/answered badly: error parsing|answered badly: .*/, 'a malformed answer is logged');
my ($portd, $dead) = (free_port(), free_port());
my ($pidd) = start_server(port => $portd, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$portd" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:${\ free_port()}"
    secret: cymru
    request_handlers: [ { method: MESSAGE, url: "http://127.0.0.1:$dead/" } ]
    http_fallback: 480
Y
$r = request($portd, 'OPTIONS', 'ping');
is(sip_status($r), 200, 'OPTIONS no handler and no app takes: 200 from sipchain');
$r = request($portd, 'MESSAGE', 'anyone', body => 'x');
is(sip_status($r), 480, 'the routing service refuses connections: http_fallback 480');
like($r // '', qr/^SIP\/2\.0 480 Routing service failed \(/, '... saying why');
is(stop_server($pidd), 0, 'server D stops cleanly');
app_stop($blue);

# --- a published drachtio application: a registrar of drachtio's middleware ------------------
my ($porte, $ctle, $bobp) = (free_port(), free_port(), free_port());
my ($pide, undef, $loge) = start_server(port => $porte, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$porte" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctle"
    secret: cymru
Y
my $reg = app_start('registrar', 'srv_registrar.js', "127.0.0.1:$ctle", 'bob=bobpass');
my $bob = sipp_start('bob', "-sf $scen/srv_register.xml -s bob -au bob -ap bobpass -p $bobp -i 127.0.0.1 -m 1 127.0.0.1:$porte");
is(sipp_done($bob), 0, 'bob: REGISTER, 401, REGISTER with credentials, 200') or diag(sipp_output('bob'));
ok(app_wait('registrar', qr/^REGISTERED user=bob/m, 10), '... challenged by drachtio-mw-digest-auth, parsed by drachtio-mw-registration-parser')
    or diag(app_log('registrar'));
like(app_log('registrar'), qr/^REGISTERED user=bob contact=sip:bob\@127\.0\.0\.1:$bobp expires=60 auth=bob$/m, '... with its contact');
my $bad = sipp_start('mallory', "-sf $scen/srv_register.xml -s bob -au bob -ap wrong -nd -p " . free_port() . " -i 127.0.0.1 -m 1 127.0.0.1:$porte", 5);
isnt(sipp_done($bad), 0, 'a wrong password is refused (403)');
like(sipp_output('mallory'), qr/403|Unexpected/, '... sipp saw the refusal') or diag(sipp_output('mallory'));
$bob = sipp_start('bobuas', "-sf $scen/uas_answer.xml -p $bobp -i 127.0.0.1 -m 1");
sleep 0.3;
$s = sipp_start('alice', "-sf $scen/proxy_uac.xml -s bob 127.0.0.1:$porte -m 1 -p " . free_port() . " -i 127.0.0.1");
is(sipp_done($s), 0, 'alice calls bob through the registrar\'s proxy: answered, ended') or diag(sipp_output('alice'));
is(sipp_done($bob), 0, 'bob, at his registered contact: rang, answered, got ACK and BYE') or diag(sipp_output('bobuas'));
like(app_wait('registrar', qr/^PROXIED/m) // '', qr/^PROXIED to=bob final=200$/m, 'srf: proxied with 200');
app_stop($reg);
is(stop_server($pide), 0, 'server E stops cleanly');
my $texte = do { local (@ARGV, $/) = $loge; <> };
unlike($texte, qr/\[error\]|sanitizer/i, 'no error in its log');
done_testing();
