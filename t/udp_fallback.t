# RFC 3261 §18.1.1 with a UDP-only peer: a request over server.udp_mtu
# (1000 here) goes over TCP; when the peer refuses the connection it is
# sent again over UDP, whatever its size, as drachtio-server's stack
# does.  Seen through sc_request (t_uac: a MESSAGE with a 1200-octet
# body) and through a drachtio-srf createUAC whose INVITE carries an SDP
# over the limit (t/drachtio/tp_app.js), answered by a sipp UAS on UDP;
# and inside a dialog (t_dialog puts a call on hold with a re-INVITE
# over the limit; once TCP was refused a dialog stays on UDP, ACK
# included).
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

# --- inside a dialog ---------------------------------------------------------------
# A: t_dialog answers a small INVITE from us (UAS), then puts the call on
# hold: its re-INVITE, over udp_mtu (560: between the size of its BYE
# and ACK, +160 for the Via to come, and its re-INVITE's), meets TCP
# refused and comes over UDP (the dialog's rule); from then on the
# dialog is UDP only.  B: t_dialog places a call with udp_mtu at its
# least (200): the INVITE comes over UDP after TCP was refused (the
# UAC's rule), and so do its ACK (sent without a transaction: lost if
# it tried TCP) and its BYE, without trying TCP again.
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
sub dialog_server {
    my ($mtu) = @_;
    my $p = free_port();
    my ($sp, undef, $sl) = start_server(port => $p, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$p", "tcp:127.0.0.1:$p" ]
  udp_mtu: $mtu
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_dialog
Y
    return ($sp, $p, $sl);
}
my $sdp = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

# A
my $p2;
($pid, $p2, $log) = dialog_server(560);
my $to2 = pack_sockaddr_in($p2, inet_aton('127.0.0.1'));
my $inv = "INVITE sip:svc\@127.0.0.1:$p2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bp;branch=z9hG4bK-da1;rport\r\n"
        . "Max-Forwards: 70\r\nFrom: <sip:bob\@127.0.0.1>;tag=b1\r\nTo: <sip:svc\@127.0.0.1>\r\nCall-ID: da1\r\n"
        . "CSeq: 1 INVITE\r\nContact: <sip:bob\@127.0.0.1:$bp>\r\nX-Mode: uas\r\nX-Hold-After: 300\r\n"
        . "X-Hangup-After: 1500\r\nContent-Type: application/sdp\r\nContent-Length: " . length($sdp) . "\r\n\r\n$sdp";
$bu->send($inv, 0, $to2) or die $!;
my ($ok, $end2) = (undef, time + 3);
while (time < $end2) { $ok = recv_msg($bu, $end2 - time) // last; last if $ok =~ m{^SIP/2\.0 200 } }
like($ok // '', qr{^SIP/2\.0 200 }, 'A: our call answered (UAS)');
my ($tag) = ($ok // '') =~ /^To: [^\r]*;tag=([^;\r]+)/m;
$bu->send("ACK sip:svc\@127.0.0.1:$p2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bp;branch=z9hG4bK-da1a;rport\r\n"
          . "Max-Forwards: 70\r\nFrom: <sip:bob\@127.0.0.1>;tag=b1\r\nTo: <sip:svc\@127.0.0.1>;tag=" . ($tag // '')
          . "\r\nCall-ID: da1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", 0, $to2);
my $re = next_req('INVITE');
ok($re && length($re) + 100 > 560, 'A: the re-INVITE (hold, over the limit) ...');
like($re // '', qr{^Via: SIP/2\.0/UDP }m, 'A: ... comes over UDP after TCP was refused');
reply($re, $sdp) if $re;
like(wait_log($log, qr/dialog \S+: TCP failed for a large INVITE: again over UDP/), qr/again over UDP/,
     'A: the dialog says so in the log');
like(wait_log($log, qr/hold answered 200/), qr/hold answered 200/, 'A: the module gets the 200 to its hold');
my $bye = next_req('BYE');
ok($bye, 'A: the BYE, over UDP');
reply($bye) if $bye;
stop_server($pid);

# B
($pid, $p2, $log) = dialog_server(200);
my $tc = udp_client();
my $tme = $tc->sockport;
$tc->send("OPTIONS sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$tme;branch=z9hG4bK-d1;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\nCall-ID: d1\r\n"
          . "CSeq: 1 OPTIONS\r\nX-Mode: uac\r\nX-Target: sip:bob\@127.0.0.1:$bp\r\n"
          . "X-Hangup-After: 500\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($p2, inet_aton('127.0.0.1'))) or die $!;
$inv = next_req('INVITE');
ok($inv, 'B: the INVITE comes over UDP after TCP was refused');
reply($inv, $sdp) if $inv;
my $ack = next_req('ACK');
ok($ack && length($ack) > 200, 'B: its ACK (over the limit) comes over UDP too');
$bye = next_req('BYE');
ok($bye, 'B: so does the BYE');
reply($bye) if $bye;
sleep 0.3;
my $tcp_tries = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /TCP failed for a large/g;
is($tcp_tries, 1, 'B: TCP was tried once, for the INVITE only');
stop_server($pid);
done_testing();
