# SipTest.pm — helpers for the end-to-end tests: write a config, start the
# real binary on a free loopback port, talk raw UDP to it, stop it.
package SipTest;
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use POSIX ":sys_wait_h";
use Time::HiRes qw(sleep time);
use Exporter 'import';
our @EXPORT = qw(sipchain module_dir free_port start_server stop_server udp_client send_recv
                 recv_msg write_file tmpdir torture wait_log udp_peer sip_header sip_status
                 sipp_start sipp_done sipp_output recv_request non2xx_ack
                 metric_value sip_answer);

my $TMP = tempdir(CLEANUP => !$ENV{SC_KEEP_TMP});   # SC_KEEP_TMP=1 keeps logs and sipp traces
sub tmpdir { $TMP }

# A modules_path holding the build's modules and the test modules
# (t/modules), as symlinks in the test's temporary directory.
sub module_dir {
    my $build = $ENV{SC_BUILD} // 'objs';
    my $mods = "$TMP/modules";
    return $mods if -d $mods;
    mkdir $mods;
    for my $so (glob("$build/modules/*.so"), glob("$build/t/modules/*.so")) {
        (my $name = $so) =~ s{.*/}{};
        symlink(($so =~ m{^/} ? $so : "$ENV{PWD}/$so"), "$mods/$name") or die "symlink $so: $!";
    }
    return $mods;
}
sub sipchain { $ENV{SIPCHAIN} // 'objs/sipchain' }

sub write_file {
    my ($name, $text) = @_;
    my $path = "$TMP/$name";
    open my $fh, '>', $path or die "$path: $!";
    binmode $fh;
    print $fh $text;
    close $fh;
    return $path;
}

# A UDP port nobody listens on right now (bind, read the port, close).
# A port free now, never one this test was given before (the kernel may
# hand a just-closed port out again, and two listeners of one config
# must not get the same).
my %given;
sub free_port {
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
            or die "no port: $!";
        my $p = $s->sockport;
        # free for TCP too (tests listen on both; an outgoing connection
        # may hold the number as its TCP port)
        my $t = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1);
        close $s;
        next unless $t;
        close $t;
        return $p if !$given{$p}++;
    }
    die "no port not given before";
}

# Servers started and not yet stopped, by pid: a test that dies on the
# way must not leave them running (END, in the test's own process only,
# not in a child it forked).
my %running;
my $owner = $$;
END {
    if ($$ == $owner) {
        for my $p (keys %running) { kill 'KILL', $p; waitpid($p, 0) }
    }
}

# Starts sipchain (or the binary bin) with the given YAML; returns (pid,
# port, logfile).
sub start_server {
    my (%o) = @_;
    my $port = $o{port} // free_port();
    my $yaml = $o{yaml} // "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: debug }\n";
    my $conf = write_file("sipchain-$port.yaml", $yaml);
    my $log = "$TMP/sipchain-$port.log";
    unlink $log;        # a restart on the same port: not the last run's "started"
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', $log or die;
        open STDOUT, '>&', \*STDERR or die;
        exec(split(/ /, $ENV{SIPCHAIN_WRAPPER} // ''), $o{bin} // sipchain(), '-c', $conf) or POSIX::_exit(127);
    }
    $running{$pid} = 1;
    # ready when it says so (bounded wait), in its stderr or in the log
    # file the config names (ready_file)
    my $ready = $o{ready_file} // $log;
    my $deadline = time + 20;
    while (time < $deadline) {
        if (open my $fh, '<', $ready) { local $/; my $t = <$fh>; return ($pid, $port, $log) if $t && $t =~ /started with/; }
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    delete $running{$pid};
    die "sipchain did not start; log:\n" . (do { local (@ARGV, $/) = $log; <> } // '');
}

# A UDP socket on a free loopback port, and that port (a raw SIP peer).
sub udp_peer {
    my $p = free_port();
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $p) or die "socket: $!";
    return ($s, $p);
}

# The first value of header h in message r ('' when absent or no message).
sub sip_header { my ($r, $h) = @_; return defined $r && $r =~ /^$h: ([^\r]*)\r$/m ? $1 : '' }
# The status code of a response ('none' when it is not one).
sub sip_status { my ($r) = @_; return defined $r && $r =~ m{^SIP/2\.0 (\d{3})} ? $1 : 'none' }

# The next request of that method socket s gets within secs (default
# 2; other messages are skipped), or undef.
sub recv_request {
    my ($s, $method, $secs) = @_;
    my $end = time + ($secs // 2);
    while ((my $l = $end - time) > 0) { my $r = recv_msg($s, $l) // return undef; return $r if $r =~ /^$method / }
    return undef;
}

# sipp with args in the test's directory, in the background, bounded to
# 30 s (or secs); its output in NAME.out (sipp_output).  sipp_done waits
# (at most 40 s, or secs) and gives its exit status (-1 when it had to be
# stopped).
sub sipp_start {
    my ($name, $args, $secs) = @_;
    my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
    die "sipp not found: run scripts/install-deps.sh\n" unless $sipp;
    $secs //= 30;
    my $p = fork() // die "fork: $!";
    if ($p == 0) { exec("cd $TMP && exec $sipp $args -timeout ${secs}s -timeout_error -nostdin >$name.out 2>&1") or exit 127 }
    return $p;
}
sub sipp_done {
    my ($p, $secs) = @_;
    my $end = time + ($secs // 40);
    while (time < $end) { return $? >> 8 if waitpid($p, WNOHANG) == $p; sleep 0.1 }
    kill 'TERM', $p;
    waitpid($p, 0);
    return -1;
}
sub sipp_output { local (@ARGV, $/) = "$TMP/$_[0].out"; return scalar(<>) // '' }

# The server's log once it matches re (the log is written by a thread of
# its own, a moment after the fact), or what it holds after secs.
sub wait_log {
    my ($log, $re, $secs) = @_;
    my $deadline = time + ($secs // 3);
    my $t = '';
    while (1) {
        $t = do { local (@ARGV, $/) = $log; <> } // '';
        return $t if $t =~ $re || time > $deadline;
        sleep 0.05;
    }
}

# SIGTERM, then wait (bounded) for the exit status.
sub stop_server {
    my ($pid) = @_;
    delete $running{$pid};
    kill 'TERM', $pid;
    my $deadline = time + 20;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        # death by a signal is not a clean exit: 128 + the signal
        return ($? & 127) ? 128 + ($? & 127) : $? >> 8 if $r == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return -1;
}

sub udp_client {
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0);
    die "socket: $!" unless $s;
    return $s;
}

sub recv_msg {
    my ($sock, $timeout) = @_;
    my $sel = IO::Select->new($sock);
    return undef unless $sel->can_read($timeout // 2);
    my $buf;
    $sock->recv($buf, 70000);
    return $buf;
}

# Sends one datagram to the server and returns the first answer (or undef).
sub send_recv {
    my ($sock, $port, $msg, $timeout) = @_;
    my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
    $sock->send($msg, 0, $to) or die "send: $!";
    return recv_msg($sock, $timeout);
}

# The value of one series (its exact name, labels included) on the
# metrics endpoint at mport, or undef when it is not there.
sub metric_value {
    my ($mport, $name) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mport, Proto => 'tcp', Timeout => 2)
        or return undef;
    print $s "GET /metrics HTTP/1.0\r\n\r\n";
    local $/;
    my $body = <$s> // '';
    return $body =~ /^\Q$name\E (\d+)/m ? $1 : undef;
}

# A UAS's answer to request req with status ("486 Busy Here"): its Via,
# From, Call-ID and CSeq, its To with a tag (to_tag, else a random one).
sub sip_answer {
    my ($req, $status, $to_tag) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $req =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my ($t) = $req =~ /^(To: [^\r]*)\r$/m;
    $t .= ';tag=' . ($to_tag // 'a' . int(rand(1e9))) unless $t =~ /;tag=/;
    return "$out$t\r\nContent-Length: 0\r\n\r\n";
}

# The ACK for a non-2xx final answer to an INVITE (RFC 3261 §17.1.1.3):
# the INVITE's Request-URI, Via, Route, From, Call-ID, Max-Forwards; the
# answer's To (with its tag); the INVITE's CSeq number.
sub non2xx_ack {
    my ($inv, $final) = @_;
    my ($ruri) = $inv =~ /^INVITE (\S+)/;
    my $a = "ACK $ruri SIP/2.0\r\n";
    $a .= "$1\r\n" while $inv =~ /^((?:Via|Route|From|Call-ID|Max-Forwards): [^\r]*)\r$/mg;
    my ($to) = $final =~ /^(To: [^\r]*)\r$/m;
    my ($cseq) = $inv =~ /^CSeq: (\d+)/m;
    return "$a$to\r\nCSeq: $cseq ACK\r\nContent-Length: 0\r\n\r\n";
}

# A torture message from t/data, byte-exact but for ";rport" added to its
# first Via line: without it the answer goes to the sent-by port (5060 by
# default, RFC 3261 §18.2.2), not to this test's socket.
sub torture {
    my ($name) = @_;
    local $/;
    open my $fh, '<', "t/data/$name" or die "t/data/$name: $!";
    binmode $fh;
    my $m = <$fh>;
    $m =~ s/^((?:Via|v)[ \t]*:[^\r\n]*)/$1;rport/mi;
    return $m;
}

1;
