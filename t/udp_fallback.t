# RFC 3261 §18.1.1 with a UDP-only peer: a request over server.udp_mtu
# (1000 here) goes over TCP; when the peer refuses the connection it is
# sent again over UDP, whatever its size, as drachtio-server's stack
# does.  Seen through sc_request (t_uac: a MESSAGE with a 1200-octet
# body) and through a drachtio-srf createUAC whose INVITE carries an SDP
# over the limit (t/drachtio/tp_app.js), answered by a sipp UAS on UDP.
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
done_testing();
