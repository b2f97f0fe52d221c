# sipchain beside Kamailio (issue 18): each as the other's next hop.
#  (a) Kamailio upstream: sipp UAC -> Kamailio (stateful, record-routing,
#      everything to sipchain as its next hop) -> sipchain (registrar +
#      record-routing proxy; the callee registered there) -> sipp UAS.
#  (b) Kamailio downstream: sipp UAC -> sipchain (a route by user prefix,
#      target with lr) -> Kamailio as the registrar of another domain
#      (usrloc + registrar, lookup("location")) -> sipp UAS registered there.
# 50 calls each at 10/s: every call completes at both ends (so ACK and
# BYE reached the far end), the Request-URI arrives unchanged at the
# second server.  Kamailio runs in the foreground (-DD -E) on a free
# loopback port with its own runtime dir, working dir and pid file in
# the test's directory, and is stopped by its pid.
#  (c) an initial INVITE that Kamailio hands over with a Route naming
#      sipchain: the Route is taken off and carol is looked up.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my ($kamailio) = grep { -x } ('/usr/sbin/kamailio', map { "$_/kamailio" } split /:/, $ENV{PATH});
plan skip_all => 'kamailio not installed (scripts/install-deps.sh installs it)' unless $kamailio;
my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $calls = 50;
my $mods = module_dir();
my $dir = tmpdir();
my $sc_port = free_port();
my $kport = free_port();

# --- Kamailio: upstream for sc.example, the registrar of other.example ---
my $kmods = (grep { -f "$_/tm.so" } glob('/usr/lib/*/kamailio/modules'), '/usr/lib/kamailio/modules')[0]
    // '/usr/lib/x86_64-linux-gnu/kamailio/modules';
my $kcfg = write_file('kamailio.cfg', <<CFG);
#!KAMAILIO
debug=2
log_stderror=yes
log_prefix="KAM "
# one UDP worker: with two, a 180 and the 200 right behind it can be
# relayed by two processes at once and reach the caller out of order on
# a busy machine (sipp then aborts the call: a test artefact, not ours)
children=1
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
listen=udp:127.0.0.1:$kport

loadpath "$kmods"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"

modparam("usrloc", "db_mode", 0)
modparam("rr", "enable_full_lr", 0)

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    xlog("L_NOTICE", "RX \$rm \$ru from \$si:\$sp route=\$hdr(Route) cid=\$ci\\n");
    if (has_totag()) {
        if (loose_route()) {
            t_relay();
            exit;
        }
        if (is_method("ACK")) {
            if (t_check_trans()) t_relay();
            exit;
        }
        sl_send_reply("404", "Not here");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) t_relay();
        exit;
    }
    t_check_trans();
    if (is_method("OPTIONS") && uri == myself && \$rU == \$null) {
        sl_send_reply("200", "OK");
        exit;
    }
    if (is_method("REGISTER")) {
        if (!save("location")) sl_reply_error();
        exit;
    }
    # a preloaded Route (sipchain's route to us, with lr) is ours
    remove_hf("Route");
    if (is_method("INVITE")) record_route();
    if (\$rd == "other.example") {
        # (b) the registrar of other.example
        if (!lookup("location")) {
            sl_send_reply("404", "Not Found");
            exit;
        }
        t_relay();
        exit;
    }
    # (a) everything else: sipchain is the next hop, the Request-URI stays
    # ((c): with a Route naming sipchain, as a loose-routing outbound proxy)
    if (is_present_hf("X-Preload")) insert_hf("Route: <sip:127.0.0.1:$sc_port;lr>\r\n");
    \$du = "sip:127.0.0.1:$sc_port";
    t_relay();
}
CFG
mkdir "$dir/kamrun";
my $klog = "$dir/kamailio.log";
my $kpid = fork() // die "fork: $!";
if ($kpid == 0) {
    open STDERR, '>', $klog or die;
    open STDOUT, '>&', \*STDERR or die;
    exec($kamailio, '-f', $kcfg, '-DD', '-E', '-m', '64', '-M', '8', '-Y', "$dir/kamrun", '-w', $dir,
         '-P', "$dir/kamailio.pid") or exit 127;
}
my $k_to = pack_sockaddr_in($kport, inet_aton('127.0.0.1'));
my $probe = udp_client();
my $kready = 0;
for my $i (1 .. 40) {        # bounded: 40 OPTIONS, 0.25 s apart
    last if waitpid($kpid, WNOHANG) == $kpid;
    $probe->send("OPTIONS sip:127.0.0.1:$kport SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" . $probe->sockport
                 . ";branch=z9hG4bK-kp$i;rport\r\nMax-Forwards: 70\r\nTo: <sip:127.0.0.1:$kport>\r\n"
                 . "From: <sip:probe\@127.0.0.1>;tag=p$i\r\nCall-ID: kprobe-$i\r\nCSeq: $i OPTIONS\r\n"
                 . "Content-Length: 0\r\n\r\n", 0, $k_to);
    if (sip_status(recv_msg($probe, 0.25)) eq '200') { $kready = 1; last }
}
ok($kready, 'Kamailio answers OPTIONS on its port') or do {
    diag(do { local (@ARGV, $/) = $klog; <> } // '');
    kill 'TERM', $kpid;
    waitpid($kpid, 0);
    BAIL_OUT('Kamailio did not start');
};

# --- sipchain: registrar of sc.example, record-routing proxy -------------
my ($pid, undef, $log) = start_server(port => $sc_port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$sc_port" ]
  log: { level: info, sip_trace: true }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ sc.example ]
  - module: proxy
    record_route: true
    routes:
      - user_prefix: "9"
        targets: [ "sip:127.0.0.1:$kport;lr" ]
Y

my $n = 0;
# REGISTER aor with contact from sock to port: the answer's status.
sub register {
    my ($sock, $port, $aor, $contact) = @_;
    my ($dom) = $aor =~ /\@(.*)/;
    $n++;
    my $sp = $sock->sockport;
    $sock->send("REGISTER sip:$dom SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-reg$n;rport\r\n"
                . "Max-Forwards: 70\r\nTo: <$aor>\r\nFrom: <$aor>;tag=r$n\r\nCall-ID: reg-$n\r\n"
                . "CSeq: 1 REGISTER\r\nContact: $contact\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
                0, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die;
    my $end = time + 3;
    while ((my $l = $end - time) > 0) { my $r = recv_msg($sock, $l) // last; return sip_status($r) if $r =~ /^SIP/ }
    return 'none';
}
# The Call-IDs of the requests of method m in a sipp message trace file
# that sipp received.
sub received {
    my ($file, $m) = @_;
    open my $fh, '<', "$dir/$file" or return {};
    local $/ = "\n-----------------------------------------------";
    my %cid;
    while (my $e = <$fh>) {
        next unless $e =~ /message received[^\n]*\n\s*$m /;
        $cid{sip_header($e, 'Call-ID')}++;
    }
    return \%cid;
}
# Whether any request sipp received in a message trace file carried a
# Route (none should be left once the route set is used up).
sub routes_left {
    my ($file) = @_;
    open my $fh, '<', "$dir/$file" or return -1;
    local $/ = "\n-----------------------------------------------";
    my $k = 0;
    while (my $e = <$fh>) { $k++ if $e =~ /message received[^\n]*\n\s*[A-Z]+ sip:/ && $e =~ /^Route:/mi }
    return $k;
}
# Call-IDs of the m requests sipchain's trace shows it received from port.
sub sc_received {
    my ($text, $m, $port) = @_;
    my %cid;
    while ($text =~ /received \d+ octets from udp:127\.0\.0\.1:$port\n$m [^\r\n]*\r\n((?:[^\r\n]+\r\n)*)/g) {
        my $h = $1;
        $cid{$1}++ if $h =~ /^Call-ID: ([^\r]+)/m;
    }
    return scalar keys %cid;
}
# Call-IDs of the m requests Kamailio logged from port.
sub k_received {
    my ($text, $m, $port) = @_;
    my %cid;
    $cid{$1}++ while $text =~ /RX $m \S+ from 127\.0\.0\.1:$port route=\S* cid=(\S+)/g;
    return scalar keys %cid;
}
# A call run: the callee (kam_uas, -m calls) on uas_port, then the
# caller against server at 10 calls/s; both exit statuses.
sub run_calls {
    my ($name, $uas_port, $server, $callee, $domain) = @_;
    my $uas = sipp_start("$name-uas", "-sf $ENV{PWD}/t/sipp/kam_uas.xml -i 127.0.0.1 -p $uas_port -m $calls"
                                      . " -trace_msg -message_file $name-uas.msg");
    sleep 0.3;
    my $uac = sipp_start("$name-uac", "-sf $ENV{PWD}/t/sipp/kam_uac.xml -s $callee -key domain $domain"
                                      . " -m $calls -r 10 -l 20 -i 127.0.0.1 -p " . free_port()
                                      . " 127.0.0.1:$server");
    my $rc_uac = sipp_done($uac);
    my $rc_uas = sipp_done($uas);
    return ($rc_uac, $rc_uas);
}

# --- (a) UAC -> Kamailio -> sipchain -> UAS -------------------------------
my $uas_a = free_port();
my $reg = udp_client();
is(register($reg, $sc_port, 'sip:alice@sc.example', "<sip:alice\@127.0.0.1:$uas_a>"), '200',
   '(a) the callee registered at sipchain');
my ($ra, $rb) = run_calls('a', $uas_a, $kport, 'alice', 'sc.example');
is($ra, 0, "(a) sipp caller: $calls calls through Kamailio then sipchain, none failed")
    or diag(sipp_output('a-uac'));
is($rb, 0, "(a) sipp callee: $calls calls complete") or diag(sipp_output('a-uas'));
my ($acks, $byes) = (received('a-uas.msg', 'ACK'), received('a-uas.msg', 'BYE'));
is(scalar(keys %$acks) . ' ' . scalar(keys %$byes), "$calls $calls", '(a) an ACK and a BYE of every call reached the callee');
is(routes_left('a-uas.msg'), 0, '(a) with no Route left (both proxies took theirs off)');
my $sclog = wait_log($log, qr/x^/, 0);
is(sc_received($sclog, 'ACK', $kport) . ' ' . sc_received($sclog, 'BYE', $kport), "$calls $calls",
   '(a) every ACK and BYE came to sipchain from Kamailio (the route set)');
my %inv;
$inv{$2}++ while $sclog =~ /received \d+ octets from udp:127\.0\.0\.1:$kport\n(INVITE (\S+) SIP\/2\.0)/g;
my %cids;
while ($sclog =~ /received \d+ octets from udp:127\.0\.0\.1:$kport\nINVITE sip:alice\@sc\.example SIP\/2\.0\r\n(?:[^\r\n]+\r\n)*?Call-ID: ([^\r]+)\r/g) { $cids{$1}++ }
is(join(',', keys %inv), 'sip:alice@sc.example', '(a) sipchain got every INVITE from Kamailio with the Request-URI unchanged');
is(scalar(keys %cids), $calls, "(a) ... $calls calls' INVITEs");

# --- (b) UAC -> sipchain -> Kamailio (registrar of other.example) -> UAS --
my $uas_b = free_port();
is(register($reg, $kport, 'sip:9001@other.example', "<sip:9001\@127.0.0.1:$uas_b>"), '200',
   '(b) the callee registered at Kamailio');
($ra, $rb) = run_calls('b', $uas_b, $sc_port, '9001', 'other.example');
is($ra, 0, "(b) sipp caller: $calls calls through sipchain's route then Kamailio, none failed")
    or diag(sipp_output('b-uac'));
is($rb, 0, "(b) sipp callee: $calls calls complete") or diag(sipp_output('b-uas'));
($acks, $byes) = (received('b-uas.msg', 'ACK'), received('b-uas.msg', 'BYE'));
is(scalar(keys %$acks) . ' ' . scalar(keys %$byes), "$calls $calls", '(b) an ACK and a BYE of every call reached the callee');
is(routes_left('b-uas.msg'), 0, '(b) with no Route left (both proxies took theirs off)');
my $kl = wait_log($klog, qr/x^/, 0);
is(k_received($kl, 'ACK', $sc_port) . ' ' . k_received($kl, 'BYE', $sc_port), "$calls $calls",
   '(b) every ACK and BYE came to Kamailio from sipchain (the route set)');
my (%kinv, %kcid, %kroute);
while ($kl =~ /RX INVITE (\S+) from 127\.0\.0\.1:$sc_port route=(\S*) cid=(\S+)/g) { $kinv{$1}++; $kroute{$2}++; $kcid{$3}++ }
is(join(',', keys %kinv), 'sip:9001@other.example', '(b) Kamailio got every INVITE from sipchain with the Request-URI unchanged');
is(scalar(keys %kcid), $calls, "(b) ... $calls calls' INVITEs");
is(join(',', keys %kroute), "<sip:127.0.0.1:$kport;lr>", '(b) each with the route\'s target as its Route');

# --- (c) Kamailio hands sipchain an initial INVITE with a Route naming it --
# (a loose-routing outbound proxy's way): sipchain must take its own
# Route off and still look the callee up.
my ($ph, $php) = udp_peer();
is(register($ph, $sc_port, 'sip:carol@sc.example', "<sip:carol\@127.0.0.1:$php>"), '200', '(c) carol registered at sipchain');
my $cl = udp_client();
my $clp = $cl->sockport;
$cl->send("INVITE sip:carol\@sc.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$clp;branch=z9hG4bK-pre1;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:carol\@sc.example>\r\nFrom: <sip:dave\@sc.example>;tag=d1\r\n"
          . "Call-ID: preload-1\r\nCSeq: 1 INVITE\r\nContact: <sip:dave\@127.0.0.1:$clp>\r\nX-Preload: yes\r\n"
          . "Content-Length: 0\r\n\r\n", 0, $k_to);
my $pinv = recv_request($ph, 'INVITE', 3);
like($pinv // '', qr/^INVITE sip:carol\@127\.0\.0\.1:$php SIP/, '(c) a preloaded Route naming sipchain: carol is still looked up');
is(sip_header($pinv // '', 'Route'), '', '(c) and the Route naming sipchain is gone');
$ph->send("SIP/2.0 486 Busy Here\r\n" . join('', map { "$_\r\n" } $pinv =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg)
          . sip_header($pinv, 'To') =~ s/^/To: /r . ";tag=c1\r\nContent-Length: 0\r\n\r\n", 0, $ph->peername) if $pinv;

is(stop_server($pid), 0, 'sipchain stopped cleanly');
kill 'TERM', $kpid;
my $end = time + 10;
while (time < $end) { last if waitpid($kpid, WNOHANG) == $kpid; sleep 0.1 }
if (time >= $end) { kill 'KILL', $kpid; waitpid($kpid, 0) }
done_testing();
