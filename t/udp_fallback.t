# RFC 3261 §18.1.1 with a UDP-only peer: a request over server.udp_mtu
# (1000 here) goes over TCP; when the peer refuses the connection it is
# sent again over UDP, whatever its size, as drachtio-server's stack
# does.  Seen through sc_request (t_uac: a MESSAGE with a 1200-octet
# body) and through a drachtio-srf createUAC whose INVITE carries an SDP
# over the limit (t/drachtio/tp_app.js), answered by a sipp UAS on UDP;
# and inside a dialog (t_dialog puts its call on hold with a re-INVITE
# over the limit).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my ($port, $ctl) = (free_port(), free_port());
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  udp_mtu: 1000
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_uac
  - module: drachtio
    listen: "127.0.0.1:$ctl"
    secret: cymru
Y

# --- sc_request -------------------------------------------------------------------
my $pp = free_port();           # UDP only: a connection to it is refused
my $pu = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $pp) or die $!;
my $c = udp_client();
my $me = $c->sockport;
$c->send("MESSAGE sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-fb1;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
         . "Call-ID: fb1\@uac\r\nCSeq: 1 MESSAGE\r\nX-Target: sip:peer\@127.0.0.1:$pp\r\nX-Pad: 1200\r\n"
         . "Content-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die $!;
my $req = recv_msg($pu, 3);
like($req // '', qr{^Via: SIP/2\.0/UDP 127\.0\.0\.1:$port;}m, 'sc_request: TCP refused: the large request comes over UDP');
like($req // '', qr{^Content-Length: 1200\r$}m, 'sc_request: the whole of it');
if ($req) {
    (my $ok = $req) =~ s/^OPTIONS [^\r]*/SIP\/2.0 200 OK/;
    $ok =~ s/^(To: [^\r]*)/$1;tag=p1/m;
    $ok =~ s/^Content-Length: \d+\r\n\r\n.*/Content-Length: 0\r\n\r\n/ms;
    $ok =~ s/^(Content-Type|X-From-Module): [^\r]*\r\n//mg;
    $pu->send($ok, 0, $pu->peername);
}
my $ans;
my $end = time + 3;
while (time < $end) { $ans = recv_msg($c, $end - time); last if !defined $ans || $ans !~ m{^SIP/2\.0 1} }
like($ans // '', qr{^SIP/2\.0 200 got 200 OK}, 'sc_request: the module gets the answer');
like(wait_log($log, qr/TCP failed for a large request: again over UDP/), qr/again over UDP/, 'sc_request: the log says so');

# --- drachtio-srf createUAC --------------------------------------------------------
SKIP: {
    my $node = (grep { -x } map { "$_/node" } split /:/, $ENV{PATH})[0];
    skip 'node or drachtio-srf not installed (scripts/install-deps.sh)', 4
        unless $node && -d 't/drachtio/node_modules/drachtio-srf';
    my $sp = free_port();
    my $uas = sipp_start('uas', "-sn uas -i 127.0.0.1 -p $sp -m 1");
    sleep 0.5;
    my $out = "$dir/tp_app.log";
    my $app = fork() // die;
    if ($app == 0) {
        open STDOUT, '>', $out or die;
        open STDERR, '>&', \*STDOUT or die;
        chdir 't/drachtio' or die;
        exec('timeout', '30', $node, 'tp_app.js', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$sp", 1100) or exit 127;
    }
    my $t = '';
    $end = time + 15;
    while (time < $end) { $t = -e $out ? do { local (@ARGV, $/) = $out; <> } // '' : ''; last if $t =~ /UAC-BYE-DONE|UAC-FAILED/; sleep 0.1 }
    like($t, qr/^UAC-DIALOG$/m, 'drachtio-srf: the large INVITE, TCP refused, is answered over UDP') or diag($t);
    like($t, qr/^UAC-BYE-DONE$/m, 'drachtio-srf: and hung up');
    like(wait_log($log, qr/TCP failed for a large INVITE: again over UDP/), qr/large INVITE: again over UDP/,
         'drachtio-srf: TCP was tried first (the log)');
    is(sipp_done($uas, 15), 0, 'the sipp UAS on UDP saw the call through');
    kill 'TERM', $app;
    waitpid($app, 0);
}
stop_server($pid);

# --- inside a dialog: a re-INVITE over the limit ---------------------------------
# t_dialog places a call (its INVITE over the limit: UDP again, the UAC's
# rule) and puts it on hold (a re-INVITE over the limit: UDP again, the
# dialog's rule); udp_mtu sits between the ACK's and BYE's size (+160
# for the Via to come) and the INVITEs'
my $p2 = free_port();
($pid, undef, $log) = start_server(port => $p2, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$p2", "tcp:127.0.0.1:$p2" ]
  udp_mtu: 560
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_dialog
Y
my $bp = free_port();
my $bu = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $bp) or die $!;
sub next_req {
    my ($method) = @_;
    my $end = time + 4;
    while (time < $end) {
        my $m = recv_msg($bu, $end - time) // return undef;
        return $m if $m =~ /^$method /;
    }
    return undef;
}
sub reply {                 # 200 to a request, with our Contact
    my ($req, $body) = @_;
    my $r = "SIP/2.0 200 OK\r\n";
    for my $h (qw(Via From To Call-ID CSeq)) {
        $r .= "$_\r\n" for $req =~ /^($h: [^\r]*)\r$/mg;
    }
    $r =~ s/^(To: [^\r;]*>?)\r$/$1;tag=callee\r/m unless $r =~ /^To: [^\r]*;tag=/m;
    $body //= '';
    $r .= "Contact: <sip:bob\@127.0.0.1:$bp>\r\n" . ($body ? "Content-Type: application/sdp\r\n" : '')
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    $bu->send($r, 0, $bu->peername);
}
my $sdp = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
my $tc = udp_client();
my $tme = $tc->sockport;
$tc->send("OPTIONS sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$tme;branch=z9hG4bK-d1;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\nCall-ID: d1\r\n"
          . "CSeq: 1 OPTIONS\r\nX-Mode: uac\r\nX-Target: sip:bob\@127.0.0.1:$bp\r\nX-Hold-After: 300\r\n"
          . "X-Hangup-After: 1200\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($p2, inet_aton('127.0.0.1')));
my $inv = next_req('INVITE');
ok($inv && length($inv) + 160 > 560, 'the INVITE (over the limit) comes over UDP after TCP was refused')
    or diag($inv);
reply($inv, $sdp) if $inv;
ok(next_req('ACK'), 'the ACK');
my $re = next_req('INVITE');
like($re // '', qr{^Via: SIP/2\.0/UDP }m, 'the re-INVITE (hold, over the limit) comes over UDP too');
reply($re, $sdp) if $re;
like(wait_log($log, qr/dialog \S+: TCP failed for a large INVITE: again over UDP/), qr/again over UDP/,
     'the dialog says so in the log');
like(wait_log($log, qr/hold answered 200/), qr/hold answered 200/, 'the module gets the 200 to its hold');
my $bye = next_req("BYE");
ok($bye, 'the BYE');
reply($bye) if $bye;
stop_server($pid);
done_testing();
