# Baresip.pm — real softphones for the end-to-end tests: headless baresip
# (Debian's baresip-core) instances, each with a config directory of its
# own made here (baresip -f DIR), no sound device (aubridge as source
# and player: ausine runs at 48 kHz only), SIP on a free loopback port (IPv4 or ::1), one
# account with digest credentials over UDP, TCP or TLS, optionally an
# outbound proxy, driven through ctrl_tcp (netstring-framed JSON commands
# and events).  Every wait is bounded; stop() ends the process by its pid.
#
#   my $p = Baresip->new(name => 'alice', user => 'alice', pass => 'pw',
#                        domain => "127.0.0.1:$port", transport => 'tcp');
#   $p->wait_registered(10) or die;
#   $p->dial("sip:bob\@127.0.0.1:$port");
#   my $e = $p->wait_event(qr/^CALL_ESTABLISHED$/, 10);
#   $p->hangup; $p->stop;
#
# Events are hashes as ctrl_tcp sends them (type, class, peeruri, param,
# id, ...): CALL_INCOMING, CALL_RINGING, CALL_PROGRESS, CALL_ESTABLISHED,
# CALL_CLOSED (param: the reason, e.g. "Connection reset by user" or
# "486 Busy Here") ...  REGISTER_OK / REGISTER_FAIL (param: the log line)
# and MESSAGE_RECEIVED (peeruri, param: the text) come from baresip's own
# log lines: the first REGISTER goes out before ctrl_tcp has a client, and
# ctrl_tcp does not carry messages.
package Baresip;
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::IP;
use IO::Select;
use POSIX ":sys_wait_h";
use Time::HiRes qw(sleep time);
use JSON::PP;
use SipTest qw(tmpdir free_port);

my $BIN = $ENV{BARESIP} // '/usr/bin/baresip';
my $MODS = $ENV{BARESIP_MODULES} // '/usr/lib/baresip/modules';
sub available { return -x $BIN && -f "$MODS/ctrl_tcp.so" && -f "$MODS/aubridge.so" }

# A certificate (self-signed, key in the same file) for TLS listeners,
# made once per test directory.
sub cert {
    my $d = tmpdir();
    my $pem = "$d/baresip-cert.pem";
    return $pem if -f $pem;
    system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
           . "-keyout $d/baresip-key.pem -out $d/baresip-crt.pem >/dev/null 2>&1") == 0 or die "openssl failed";
    system("cat $d/baresip-crt.pem $d/baresip-key.pem > $pem") == 0 or die "cat failed";
    return $pem;
}

# new(%o): name (directory and log), user, pass, domain (host[:port] of
# the AOR, the registrar's when no outbound), transport (udp|tcp|tls),
# ipv6 (listen on ::1), outbound (a URI: the account's outbound proxy),
# regint (s, default 300; 0: no REGISTER), display (display name),
# contacts (URIs for message(); the first is current), start (default 1).
sub new {
    my ($class, %o) = @_;
    my $self = bless { %o, events => [], buf => '', token => 0, logpos => 0 }, $class;
    $self->{transport} //= 'udp';
    $self->{regint} //= 300;
    $self->pick_ports;
    $self->{dir} = tmpdir() . "/baresip-$o{name}";
    $self->start unless defined $o{start} && !$o{start};
    return $self;
}

# baresip listens on the port for UDP and TCP, and on the next one for TLS
sub pick_ports {
    my ($self) = @_;
    delete $self->{sip_port};
    for (1 .. 50) {
        my $p = free_port();
        my $t = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1', LocalPort => $p + 1, Listen => 1, ReuseAddr => 0);
        if ($t) { close $t; $self->{sip_port} = $p; last }
    }
    die "no two free ports in a row" unless $self->{sip_port};
    $self->{ctrl_port} = free_port();
}

sub aor {
    my ($self) = @_;
    return "sip:$self->{user}\@$self->{domain}";
}

sub write_config {
    my ($self) = @_;
    my $d = $self->{dir};
    mkdir $d unless -d $d;
    my $listen = $self->{ipv6} ? "[::1]:$self->{sip_port}" : "127.0.0.1:$self->{sip_port}";
    my $cert = $self->{transport} eq 'tls' || $self->{tls_listen} ? cert() : undef;
    open my $fh, '>', "$d/config" or die "$d/config: $!";
    print $fh join('', map { "$_->[0]\t\t$_->[1]\n" } (
        [ poll_method => 'epoll' ],
        [ sip_listen => $listen ],
        ($cert ? ([ sip_certificate => $cert ], [ sip_cafile => $cert ]) : ()),
        [ sip_trans_def => $self->{transport} ],
        [ net_prefer_ipv6 => $self->{ipv6} ? 'yes' : 'no' ],
        [ call_local_timeout => 120 ],
        [ call_max_calls => 4 ],
        [ audio_player => 'aubridge,nil' ],
        [ audio_source => 'aubridge,nil' ],
        [ audio_alert => 'aubridge,nil' ],
        [ rtp_ports => '20000-40000' ],
        [ module_path => $MODS ],
        [ module => 'g711.so' ],
        [ module => 'ausine.so' ],
        [ module => 'aubridge.so' ],
        [ module => 'stdio.so' ],
        [ module_app => 'account.so' ],
        [ module_app => 'contact.so' ],
        [ module_app => 'menu.so' ],
        [ module_app => 'ctrl_tcp.so' ],
        [ ctrl_tcp_listen => "127.0.0.1:$self->{ctrl_port}" ],
        [ menu_bell => 'no' ],
        [ statmode_default => 'off' ],
    ));
    close $fh;
    my $acc = "<" . $self->aor . ";transport=$self->{transport}>";
    $acc = "\"$self->{display}\" $acc" if defined $self->{display};
    $acc .= ";auth_user=$self->{user};auth_pass=$self->{pass}" if defined $self->{pass};
    $acc .= ";outbound=\"$self->{outbound}\"" if $self->{outbound};
    $acc .= ";regint=$self->{regint};answermode=manual;audio_codecs=PCMU,PCMA;mediaenc=;medianat=";
    open $fh, '>', "$d/accounts" or die;
    print $fh "$acc\n";
    close $fh;
    open $fh, '>', "$d/contacts" or die;
    print $fh map { "<$_>\n" } @{ $self->{contacts} // [] };
    close $fh;
    if (@{ $self->{contacts} // [] }) {
        open $fh, '>', "$d/current_contact" or die;
        print $fh $self->{contacts}[0];
        close $fh;
    }
}

# A port found free may be taken by someone else (another test suite
# beside this one) before baresip binds it: then new ports, at most
# three tries.
sub start {
    my ($self) = @_;
    for my $try (1 .. 3) {
        my $r = eval { $self->start_once };
        return $r if $r;
        die $@ if $try == 3 || $@ !~ /Address already in use/;
        $self->pick_ports;
    }
}

sub start_once {
    my ($self) = @_;
    $self->write_config;
    my $log = $self->{log} = "$self->{dir}/baresip.log";
    # stdin: a pipe nobody writes to (the stdio module, which prints what
    # MESSAGE brings, spins on /dev/null's endless EOF)
    pipe(my $in_r, my $in_w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close $in_w;
        open STDIN, '<&', $in_r or die;
        open STDOUT, '>', $log or die;
        open STDERR, '>&', \*STDOUT or die;
        exec($BIN, '-f', $self->{dir}, ($self->{ipv6} ? '-6' : ()), ($self->{trace} || $ENV{BARESIP_TRACE} ? '-s' : ()), '-t', 600) or exit 127;
    }
    close $in_r;
    $self->{stdin} = $in_w;
    $self->{pid} = $pid;
    my $end = time + 10;
    while (time < $end) {
        $self->{ctrl} = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{ctrl_port}, Proto => 'tcp');
        last if $self->{ctrl};
        die "baresip $self->{name} exited; log:\n" . $self->log_text if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    die "baresip $self->{name}: no ctrl_tcp; log:\n" . $self->log_text unless $self->{ctrl};
    $self->{ctrl}->blocking(0);
    return $self;
}

sub log_text { my ($self) = @_; local (@ARGV, $/) = $self->{log}; return scalar(<>) // '' }

# Reads what ctrl_tcp sent (up to secs) into events / responses.
sub pump {
    my ($self, $secs) = @_;
    my $sel = IO::Select->new($self->{ctrl});
    if ($sel->can_read($secs // 0)) {
        my $got = sysread($self->{ctrl}, my $chunk, 65536);
        $self->{buf} .= $chunk if $got;
    }
    while ($self->{buf} =~ /^(\d+):/) {
        my ($len, $hl) = ($1, length($1) + 1);
        last if length($self->{buf}) < $hl + $len + 1;
        my $json = substr($self->{buf}, $hl, $len);
        substr($self->{buf}, 0, $hl + $len + 1) = '';
        my $m = eval { decode_json($json) } or next;
        if ($m->{event}) {
            push @{ $self->{events} }, $m;
            push @{ $self->{seen} }, $m;
        } elsif ($m->{response}) {
            $self->{responses}{ $m->{token} // '' } = $m;
        }
    }
    # a MESSAGE received shows only in the log: "sip:x@y: "text""
    my $t = $self->log_text;
    if (length($t) > $self->{logpos}) {
        my $new = substr($t, $self->{logpos});
        my $cut = rindex($new, "\n");
        if ($cut >= 0) {
            $self->{logpos} += $cut + 1;
            for my $l (split /\n/, substr($new, 0, $cut)) {
                if ($l =~ /^\S+: \{\d+\/\w+\/v\d\} (\d{3}) /) {
                    my $m = { event => JSON::PP::true, type => $1 < 300 ? 'REGISTER_OK' : 'REGISTER_FAIL', param => $l };
                    push @{ $self->{events} }, $m;
                    push @{ $self->{seen} }, $m;
                } elsif ($l =~ /^\r?(\S+): "(.*)"\s*$/) {
                    my $m = { event => JSON::PP::true, type => 'MESSAGE_RECEIVED', peeruri => $1, param => $2 };
                    push @{ $self->{events} }, $m;
                    push @{ $self->{seen} }, $m;
                }
            }
        }
    }
}

# Sends a command (a menu long command: dial, accept, hangup, hold ...)
# and waits (at most secs, default 5) for its response hash.
sub cmd {
    my ($self, $command, $params, $secs) = @_;
    my $token = 't' . ++$self->{token};
    my $json = encode_json({ command => $command, (defined $params ? (params => $params) : ()), token => $token });
    my $frame = length($json) . ":$json,";
    $self->{ctrl}->blocking(1);
    print { $self->{ctrl} } $frame;
    $self->{ctrl}->flush;
    $self->{ctrl}->blocking(0);
    my $end = time + ($secs // 5);
    while (time < $end) {
        return delete $self->{responses}{$token} if $self->{responses}{$token};
        $self->pump(0.05);
    }
    return undef;
}

# The next event whose type matches re within secs (others stay queued
# for later waits), or undef.
sub wait_event {
    my ($self, $re, $secs) = @_;
    my $end = time + ($secs // 5);
    while (1) {
        for my $i (0 .. $#{ $self->{events} }) {
            my $e = $self->{events}[$i];
            if (($e->{type} // '') =~ $re) {
                splice @{ $self->{events} }, $i, 1;
                return $e;
            }
        }
        my $left = $end - time;
        return undef if $left <= 0;
        $self->pump($left < 0.1 ? $left : 0.1);
    }
}

# Every event so far (types), for diagnostics.
sub seen { my ($self) = @_; $self->pump(0); return join(' ', map { $_->{type} } @{ $self->{seen} // [] }) }
sub forget_events { my ($self) = @_; $self->pump(0); $self->{events} = [] }

sub wait_registered {
    my ($self, $secs) = @_;
    my $e = $self->wait_event(qr/^REGISTER_(OK|FAIL)$/, $secs // 10);
    return $e && $e->{type} eq 'REGISTER_OK' ? $e : undef;
}

sub dial    { my ($self, $uri) = @_; return $self->cmd('dial', $uri) }
sub answer  { my ($self) = @_; return $self->cmd('accept') }
sub hangup  { my ($self) = @_; return $self->cmd('hangup') }
sub hold    { my ($self) = @_; return $self->cmd('hold') }
sub resume  { my ($self) = @_; return $self->cmd('resume') }
# A MESSAGE to the current contact (the first of contacts).
sub message { my ($self, $text) = @_; return $self->cmd('message', $text) }

# SIGTERM, then (bounded) SIGKILL; by pid only.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    close $self->{ctrl} if $self->{ctrl};
    close $self->{stdin} if $self->{stdin};
    kill 'TERM', $pid;
    my $end = time + 5;
    while (time < $end) { return if waitpid($pid, WNOHANG) == $pid; sleep 0.05 }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub DESTROY { my ($self) = @_; local $?; $self->stop if $self->{pid} }

1;
