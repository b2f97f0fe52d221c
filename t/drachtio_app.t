# A whole published drachtio application run unmodified on sipchain
# (issue 21): drachtio-siprec-recording-server 1.0.1 from the npm
# registry (Dave Horton's SIPREC recording server, RFC 7865/7866, pinned
# in t/drachtio/package.json), started with its own entry point (app.js)
# and configured only as its README says (a config/local.json, here in the
# directory NODE_CONFIG_DIR names). Its media engine is a real rtpengine
# (Debian's rtpengine-daemon), started by the test in userspace mode (no
# kernel forwarding table), on loopback, with its control ("ng") port and
# a private media port range; no media flows (sipp sends none), so
# nothing is recorded, but rtpengine allocates each call's ports, answers
# the SDP and keeps the session until the application deletes it.
#
# sipp plays the SBC, the recording client: SIPREC calls (a multipart
# body of two streams' SDP and the rs-metadata XML) are answered 200 with
# the SDP the application stitches together from rtpengine's two answers,
# then ACKed and hung up, and the application tears rtpengine's session
# down; a plain call is refused 488 by the application's own middleware.
# The SIPREC INVITEs carry Require: siprec, which reaches the application
# as with drachtio-server (whose transaction layer never checks Require)
# instead of being refused 420 by sipchain's core.
# Both ways the application can reach a drachtio server are run: it
# connects to sipchain (config with drachtio.host), and sipchain connects
# to it listening (config without host; the module's `outbound`).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use SipTest;

my $node = (grep { -x } map { "$_/node" } split /:/, $ENV{PATH})[0];
BAIL_OUT('node not found: run scripts/install-deps.sh') unless $node;
my $appdir = 't/drachtio/node_modules/drachtio-siprec-recording-server';
BAIL_OUT('drachtio-siprec-recording-server not installed: run scripts/install-deps.sh')
    unless -f "$appdir/app.js";
my $rtpengine = '/usr/bin/rtpengine';
BAIL_OUT("$rtpengine not found (package rtpengine-daemon): run scripts/install-deps.sh")
    unless -x $rtpengine;
my $mods = module_dir();
my $dir = tmpdir();
my $scen = "$ENV{PWD}/t/sipp";

my %kids;
sub slurp { my $f = shift; return '' unless -e $f; local (@ARGV, $/) = $f; return scalar(<>) // '' }
sub log_wait {
    my ($f, $re, $secs) = @_;
    my $end = time + ($secs // 20);
    while (time < $end) { my $t = slurp($f); return $t if $t =~ $re; sleep 0.05 }
    return undef;
}
sub spawn {
    my ($out, $cwd, $env, @cmd) = @_;
    unlink $out;
    my $p = fork() // die;
    if ($p == 0) {
        open STDOUT, '>', $out or die; open STDERR, '>&', \*STDOUT or die;
        chdir $cwd or die "$cwd: $!";
        @ENV{keys %$env} = values %$env;
        exec('timeout', '120', @cmd) or exit 127;
    }
    $kids{$p} = 1;
    return $p;
}
sub stop { my ($p) = @_; delete $kids{$p}; kill 'TERM', $p; waitpid($p, 0) }
sub gone { my ($p) = @_; require POSIX; return waitpid($p, POSIX::WNOHANG()) == $p }
END { kill 'TERM', keys %kids }

# --- rtpengine ---------------------------------------------------------------------
# In the foreground, userspace only (--table=-1: no kernel forwarding
# table, /proc/rtpengine is not used), no config file, its log (level 7:
# each ng command and reply is dumped) on stderr into the tmpdir. A
# session is forgotten as soon as it is deleted (--delete-delay=0), so
# that `query` tells a deleted call. The application asks for each call
# to be recorded: rtpengine's spool directory is in the tmpdir (with no
# media, it holds only each call's metadata). Its media ports: a private
# range of 200 in 10000-19999, below baresip's RTP ports (t/lib/Baresip.pm)
# and the ephemeral ports free_port hands out (rtpengine skips a port
# that is taken).
my $rtpe_port = free_port();
my $rtpe_log = "$dir/rtpengine.log";
my $rtpe_min = 10000 + ($$ % 50) * 200;
my $rtpe_max = $rtpe_min + 199;
mkdir "$dir/recording";
my $rtpe = spawn($rtpe_log, $dir, {}, $rtpengine, '--config-file=none', '--foreground', '--table=-1',
                 '--interface=127.0.0.1', "--listen-ng=127.0.0.1:$rtpe_port",
                 "--port-min=$rtpe_min", "--port-max=$rtpe_max", '--delete-delay=0',
                 "--recording-dir=$dir/recording",
                 '--log-stderr', '--log-level=7', "--pidfile=$dir/rtpengine.pid");

# One ng request (a bencoded dictionary of strings) and its reply (raw).
my $ng_seq = 0;
sub bstr { my $v = shift; return length($v) . ":$v" }
sub ng {
    my (%req) = @_;
    my $cookie = "t$$" . '_' . ++$ng_seq;
    my $s = IO::Socket::INET->new(Proto => 'udp', PeerAddr => "127.0.0.1:$rtpe_port") or return undef;
    $s->send("$cookie d" . join('', map { bstr($_) . bstr($req{$_}) } sort keys %req) . 'e');
    my $r = '';
    my $rin = ''; vec($rin, fileno($s), 1) = 1;
    return undef unless select(my $rout = $rin, undef, undef, 5);
    $s->recv($r, 65536);
    return $r =~ s/^\Q$cookie\E // ? $r : undef;
}
my $pong;
for (my $end = time + 20; time < $end; sleep 0.1) {
    last if ($pong = ng(command => 'ping') // '') eq 'd6:result4:ponge';
    last if gone($rtpe);
}
is($pong, 'd6:result4:ponge', "rtpengine answers a ping on its ng port")
    or BAIL_OUT("rtpengine did not start:\n" . slurp($rtpe_log));

# The application, configured as its README says: a local.json in its
# config directory (node-config's NODE_CONFIG_DIR names where that is).
sub app_start {
    my ($name, $drachtio) = @_;
    my $cfg = "$dir/config-$name";
    mkdir $cfg;
    write_file("config-$name/local.json", <<J);
{
  "drachtio": $drachtio,
  "rtpengine": {
    "remote": { "host": "127.0.0.1", "port": $rtpe_port },
    "localPort": ${\ free_port() }
  }
}
J
    return spawn("$dir/app-$name.log", $appdir,
                 { NODE_CONFIG_DIR => $cfg, NODE_ENV => 'production', SUPPRESS_NO_CONFIG_WARNING => 1 },
                 $node, 'app.js');
}

# calls SIPREC calls, one after the other, from sipp as the SBC; the 200s
# to their INVITEs, from sipp's message trace.
sub siprec_calls {
    my ($name, $port, $calls) = @_;
    my $s = sipp_start($name, "-sf $scen/app_siprec_src.xml -s recorder -m $calls -l 1 -p " . free_port()
                     . " -i 127.0.0.1 -trace_msg -message_file $name.msg 127.0.0.1:$port", 60);
    is(sipp_done($s, 90), 0, "$name: $calls SIPREC call(s) answered 200, ACKed and hung up")
        or diag(sipp_output($name));
    my $msgs = slurp("$dir/$name.msg");
    my @ok = $msgs =~ m{^(SIP/2\.0 200 OK\r?\n.*?)(?=^-{10,}|\z)}msg;
    return grep { /^CSeq: 1 INVITE\r?$/m } @ok;
}

# rtpengine's log, one line per ng command it replied to: "CMD <command>
# call-id=.. from-tag=.. record=.. port=<its media port in its reply's SDP>",
# from its dumps of each request and reply (level 7).
sub rtpe_cmds {
    my ($cmd) = @_;
    my (@out, %req);
    # an entry per timestamp (an SDP in a dump spans lines)
    for (split /\n(?=\[\d+\.\d+\] )/, slurp($rtpe_log)) {
        if (/ Dump for '\Q$cmd\E' from (\S+): (.*)/s) { $req{$1} = $2 }
        elsif (/ Response dump for '\Q$cmd\E' to (\S+): (.*)/s) {
            my ($from, $resp) = ($1, $2);
            my $q = delete $req{$from} // next;
            my %f = map { my ($v) = $q =~ /"\Q$_\E": "([^"]*)"/; ($_ => $v // '') } 'call-id', 'from-tag', 'record call';
            my ($port) = $resp =~ /m=audio (\d+) /;
            my $ok = $resp =~ /"result": "ok"/ ? '' : ' result=error';
            push @out, "CMD $cmd call-id=$f{'call-id'} from-tag=$f{'from-tag'} record=$f{'record call'}"
                     . ($port ? " port=$port" : '') . $ok;
        }
    }
    return @out;
}

# The calls (the 200s to their INVITEs, n expected) against what rtpengine
# was asked since it had had `before` offers.
sub check_answers {
    my ($what, $n, $before, @ok) = @_;
    is(scalar @ok, $n, "$what: $n 200 OK(s) to the SIPREC INVITE(s)");
    my @offers = rtpe_cmds('offer');
    my @answers = rtpe_cmds('answer');
    splice(@offers, 0, $before);
    splice(@answers, 0, $before);
    is(scalar @offers, $n, "$what: rtpengine got an offer for each call (the caller's stream)");
    is(scalar @answers, $n, "$what: and an answer (the callee's stream)");
    for my $i (0 .. $#ok) {
        my ($cid) = $ok[$i] =~ /^Call-ID: ([^\r\n]+)/mi;
        my ($o) = grep { /call-id=\Q$cid\E / } @offers;
        my ($a) = grep { /call-id=\Q$cid\E / } @answers;
        ok($o && $a, "$what: call $cid: offer and answer carry its Call-ID") or next;
        like($o, qr/from-tag=\S*SRC/, "$what: call $cid: and the SBC's From tag");
        like($o, qr/record=yes/, "$what: call $cid: asking for the call to be recorded");
        my ($op) = $o =~ /port=(\d+)/;
        my ($ap) = $a =~ /port=(\d+)/;
        like($ok[$i], qr/^Content-Type: application\/sdp\r?$/mi, "$what: call $cid: the 200 carries SDP");
        my @m = $ok[$i] =~ /^m=audio (\d+) /mg;
        is("@m", "$op $ap", "$what: call $cid: its two streams go to rtpengine's two ports, in order");
        is(scalar(grep { $_ >= $rtpe_min && $_ <= $rtpe_max } @m), 2,
           "$what: call $cid: both from rtpengine's port range ($rtpe_min-$rtpe_max)");
    }
}
# Each call's BYE makes the application delete rtpengine's session.
sub check_deletes {
    my ($what, @ok) = @_;
    my $end = time + 15;
    for my $c (@ok) {
        my ($cid) = $c =~ /^Call-ID: ([^\r\n]+)/mi;
        sleep 0.05 while time < $end && !grep { /call-id=\Q$cid\E / } rtpe_cmds('delete');
        ok((grep { /call-id=\Q$cid\E / } rtpe_cmds('delete')), "$what: the BYE of $cid ends its recording (rtpengine delete)");
        my @d = grep { /call-id=\Q$cid\E / } rtpe_cmds('delete');
        ok(@d && !grep({ /result=error/ } @d), "$what: call $cid: rtpengine deleted the session it held")
            or diag("@d");
        like(ng(command => 'query', 'call-id' => $cid) // '', qr/6:result5:error.*Unknown call-id/,
             "$what: call $cid: rtpengine has no session left");
    }
}

sub server {
    my ($port, $ctl, $extra) = @_;
    return start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctl"
    secret: cymru
$extra
Y
}

# --- the application connects to sipchain -------------------------------------------
my ($port, $ctl) = (free_port(), free_port());
my ($pid) = server($port, $ctl, '');
my $app = app_start('in', qq({ "host": "127.0.0.1", "port": $ctl, "secret": "cymru" }));
ok(log_wait("$dir/app-in.log", qr/inbound connection to drachtio listening on/), 'the application connects and authenticates')
    or diag(slurp("$dir/app-in.log"));

my @ok = siprec_calls('siprec_in', $port, 2);
check_answers('connected', 2, 0, @ok);
check_deletes('connected', @ok);
my $alog = slurp("$dir/app-in.log");
is(scalar(() = $alog =~ /call connected successfully/g), 2, "the application's log: both calls connected");
ok(log_wait("$dir/app-in.log", qr/(?:call ended.*){2}/s, 10), "and both ended");

my $s = sipp_start('plain_in', "-sf $scen/app_plain_488.xml -s recorder -m 1 -p " . free_port() . " -i 127.0.0.1 127.0.0.1:$port");
is(sipp_done($s, 40), 0, 'a plain (non-SIPREC) INVITE is refused 488 by the application')
    or diag(sipp_output('plain_in'));
like(slurp("$dir/app-in.log"), qr/rejecting non-SIPREC INVITE/, "the application's log says it refused it");
unlike(slurp("$dir/app-in.log"), qr/"level":50|Error connecting call/, 'and logged no error');
stop($app);
is(stop_server($pid), 0, "sipchain stops cleanly");

# --- sipchain connects to the application (srf.listen) ------------------------------
($port, $ctl) = (free_port(), free_port());
# A port of the ephemeral range may be taken by a connection between
# free_port and the application's listen (which binds every address): it
# then dies of EADDRINUSE, and another port is tried.
sub tcp_listening {
    my ($p) = @_;
    my $hex = sprintf('%04X', $p);
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open(my $fh, '<', $f) or next;
        while (<$fh>) { return 1 if /^\s*\d+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A / }
    }
    return 0;
}
my $aport;
for my $try (1 .. 3) {
    $aport = free_port();
    $app = app_start('out', qq({ "port": $aport, "secret": "cymru" }));
    my $end = time + 20;
    sleep 0.05 until tcp_listening($aport) || gone($app) || time > $end;
    last if tcp_listening($aport);
    diag("the application could not listen on $aport: " . slurp("$dir/app-out.log"));
    stop($app);
}
ok(log_wait("$dir/app-out.log", qr/listening for outbound connections on: $aport/) && tcp_listening($aport),
   'the application listens for the server') or diag(slurp("$dir/app-out.log"));
($pid) = server($port, $ctl, "    outbound: \"tcp://127.0.0.1:$aport\"");
my $before = scalar rtpe_cmds('offer');
@ok = siprec_calls('siprec_out', $port, 1);
check_answers('outbound', 1, $before, @ok);
check_deletes('outbound', @ok);
ok(log_wait("$dir/app-out.log", qr/call ended/, 10), 'outbound: the BYE ends the recording')
    or diag(slurp("$dir/app-out.log"));
$s = sipp_start('plain_out', "-sf $scen/app_plain_488.xml -s recorder -m 1 -p " . free_port() . " -i 127.0.0.1 127.0.0.1:$port");
is(sipp_done($s, 40), 0, 'outbound: a plain INVITE is refused 488') or diag(sipp_output('plain_out'));
stop($app);
is(stop_server($pid), 0, "sipchain stops cleanly");
like(ng(command => 'list') // '', qr/5:callsle/, 'rtpengine is left with no call');
unlike(slurp($rtpe_log), qr/\] (?:ERR|CRIT|ALERT|EMERG):/, "and logged no error") or diag(slurp($rtpe_log));
stop($rtpe);

done_testing();
