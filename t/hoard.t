# Connection slots cannot be hoarded (issue 19 point 4): one host opening
# many idle, slow or half-handshaken TCP/TLS connections never keeps
# another host from connecting and being answered.
#  - max_connections_per_source: one address's (IPv4, or IPv6 /64)
#    excess connections are closed at once while other hosts connect;
#  - near max_connections, a newcomer closes the oldest unproven (never
#    carried a complete message) connection instead of being refused; a
#    proven one stays; with every connection proven, the busiest source
#    gives up its oldest;
#  - message_timeout closes slow headers; tls_handshake_timeout closes
#    half-handshaken TLS connections;
#  - counters on the metrics page;
#  - out of descriptors (prlimit on the server): the oldest silent
#    connections make room; with none, no spinning, no log flood;
#  - 5000 idle connections of one host, default limits: another host
#    still gets an answer.
# "Other hosts" are loopback source addresses 127.0.0.2, 127.0.0.3 ...
use strict;
use warnings;

# 5000 client sockets here (and as many accepts there): raise the soft
# fd limit when it is lower, for this process and the servers it starts
BEGIN {
    chomp(my $n = `sh -c 'ulimit -n'`);
    if ($n ne 'unlimited' && $n < 6000 && !$ENV{SC_HOARD_REEXEC}) {
        $ENV{SC_HOARD_REEXEC} = 1;
        exec('sh', '-c', 'ulimit -n 12000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', $^X, $0, @ARGV);
    }
}
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Select;
use Errno qw(EAGAIN EWOULDBLOCK);
use Time::HiRes qw(sleep time);
use SipTest;

$SIG{PIPE} = 'IGNORE';         # writes to connections the server closed
my @servers;      # stopped at exit whatever happens (a test that dies leaves none behind)
END { for my $p (@servers) { next unless kill 0, $p; kill 'KILL', $p; waitpid($p, 0) } }
sub server { my @r = start_server(@_); push @servers, $r[0]; return @r }
my $d = tmpdir();
my $mods = module_dir();
system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout $d/h.key -out $d/h.pem >/dev/null 2>&1") == 0
    or die "openssl req failed";

my ($tport, $sport, $mport, $v6port) = (free_port(), free_port(), free_port(), free_port());
my ($pid, undef, $log) = server(port => $tport, yaml => <<"Y");
server:
  listen:
    - "tcp:127.0.0.1:$tport"
    - { url: "tls:127.0.0.1:$sport", cert: "$d/h.pem", key: "$d/h.key" }
    - "tcp:[::1]:$v6port"
  log: { level: info }
  limits:
    max_connections: 200
    max_connections_per_source: 20
    message_timeout: 2
    tls_handshake_timeout: 2
    idle_timeout: 300
  metrics: { listen: "127.0.0.1:$mport" }
modules_path: $mods
chain:
  - module: options
Y

my $n = 0;
sub options {
    my ($tp) = @_;
    $n++;
    return "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/$tp client.invalid;branch=z9hG4bK-h$n\r\n"
         . "Max-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:h\@127.0.0.1>;tag=$n\r\n"
         . "Call-ID: hoard$n\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
}
# a TCP connection from source address ip (undef when connect fails)
sub tcp_from {
    my ($ip, $port) = @_;
    return IO::Socket::INET->new(LocalAddr => $ip, PeerAddr => "127.0.0.1:" . ($port // $tport),
                                 Proto => 'tcp', Timeout => 3);
}
# an answer to one OPTIONS over s (its status line, or '')
sub ask {
    my ($s, $tp) = @_;
    return '' unless $s;
    $s->syswrite(options($tp // 'TCP')) or return '';
    my ($buf, $end) = ('', time + 3);
    my $sel = IO::Select->new($s);
    while (time < $end && $buf !~ /\r\n\r\n/) {
        if ($s->isa('IO::Socket::SSL') && $s->pending) { }
        elsif (!$sel->can_read($end - time)) { last }
        my $r = $s->sysread($buf, 4096, length $buf);
        last unless $r;
    }
    return $buf =~ m{^(SIP/2\.0 \d{3}[^\r]*)} ? $1 : '';
}
# has the server closed s (EOF or reset)?  Nonblocking: no waiting.
sub is_closed {
    my ($s) = @_;
    $s->blocking(0);
    my $r = sysread($s, my $b, 1);
    $s->blocking(1);
    return 1 if defined $r && $r == 0;
    return 0 if !defined $r && ($! == EAGAIN || $! == EWOULDBLOCK);
    return defined $r ? 0 : 1;      # data: open; another error (reset): closed
}
sub closed_within {
    my ($s, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) { return 1 if is_closed($s); sleep 0.05 }
    return is_closed($s);
}
sub count_open { scalar grep { !is_closed($_) } @_ }
# the value of f once it is true, or its last value after secs (the
# server works through its accept queue at its own pace)
sub eventually {
    my ($f, $secs) = @_;
    my $end = time + ($secs // 3);
    while (1) { my $r = $f->(); return $r if $r || time > $end; sleep 0.1 }
}
sub metric {
    my ($port, $name, $labels) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 2) or return undef;
    print $s "GET /metrics HTTP/1.0\r\n\r\n";
    my ($body, $end) = ('', time + 3);
    my $sel = IO::Select->new($s);
    while (time < $end && $sel->can_read($end - time)) { sysread($s, $body, 65536, length $body) or last }
    return $body =~ /^\Q$name\E\{\Q$labels\E\} (\d+)/m ? $1 : 0;
}

# --- per-source limit -------------------------------------------------
# one host tries 250 connections, more than the listener's 200
my @h = grep { defined } map { tcp_from('127.0.0.2') } 1 .. 250;
@h == 250 or BAIL_OUT('one host could not open 250 connections: ' . scalar @h);
eventually(sub { count_open(@h) == 20 });
is(count_open(@h), 20, 'max_connections_per_source: 20 of one host\'s 250 stay open, the rest are closed at once');
ok(!is_closed($h[19]) && is_closed($h[20]), "the first 20 stay, the excess from the 21st on goes");
like(ask(tcp_from('127.0.0.3')), qr{^SIP/2\.0 200 }, 'another host connects meanwhile and is answered');
is(metric($mport, 'sipchain_connections_refused_total', 'transport="tcp",reason="max_connections_per_source"'), 230,
   'the refusals are counted');
close $_ for grep { defined } @h;
# the same over IPv6 (a source there is a /64)
my @h6 = grep { defined } map { IO::Socket::IP->new(PeerHost => '::1', PeerPort => $v6port, Proto => 'tcp', Timeout => 3) } 1 .. 25;
@h6 == 25 or BAIL_OUT('25 connections over IPv6 could not open: ' . scalar @h6);
eventually(sub { count_open(@h6) == 20 });
ok(count_open(@h6) == 20 && !is_closed($h6[19]) && is_closed($h6[20]), 'over IPv6: 20 of 25 stay open, the excess goes');
close $_ for @h6;
sleep 0.3;

# --- eviction of unproven connections near the limit ------------------
my $proven = tcp_from('127.0.0.4');
ask($proven) =~ m{^SIP/2\.0 200 } or BAIL_OUT('OPTIONS over TCP not answered');   # proven
# ten hosts fill the listener with 200 silent connections: from 180
# (90%) on, each new one closes the oldest silent one instead
my @fill;
for my $host (1 .. 10) { push @fill, grep { defined } map { tcp_from("127.0.1.$host") } 1 .. 20 }
@fill == 200 or BAIL_OUT('ten hosts could not open 200 connections: ' . scalar @fill);
eventually(sub { count_open(@fill) == 179 });
is(count_open(@fill), 179, 'the listener stays at 90% (180 with the proven one): the oldest silent ones were closed');
is(count_open(@fill[0 .. 20]), 0, 'those closed are the 21 oldest');
my $new = tcp_from('127.0.0.3');
like(ask($new), qr{^SIP/2\.0 200 }, 'a newcomer is admitted and answered (not refused)');
ok(is_closed($fill[21]) && !is_closed($fill[22]) && ask($proven) =~ m{^SIP/2\.0 200 },
   'in place of the oldest remaining silent connection; the proven one was kept');
is(metric($mport, 'sipchain_connections_closed_total', 'transport="tcp",reason="evicted_unproven"'), 22,
   'evictions are counted');
close $_ for grep { defined } @fill, $new, $proven;
sleep 0.3;

# --- slow headers -----------------------------------------------------
# one connection drips a request an octet every 0.3 s; another sends
# one in two parts 1 s apart (within the timeout)
my $slow = tcp_from('127.0.0.5');
my $ok = tcp_from('127.0.0.5');
my $req = options('TCP');
$slow->syswrite(substr($req, 0, 40));
$ok->syswrite(substr($req, 0, 40));
my $t0 = time;
my $i = 40;
my $open_late = 1;
while (time - $t0 < 5 && !is_closed($slow)) {
    $slow->syswrite(substr($req, $i++, 1));
    $ok->syswrite(substr($req, 40)) if $i == 44;            # at 1.2 s: complete
    $open_late = 0 if time - $t0 < 1.2 && is_closed($slow);
    sleep 0.3;
}
my $dt = time - $t0;
my $served = 0;
{ my $b = ''; IO::Select->new($ok)->can_read(2) and sysread($ok, $b, 4096); $served = $b =~ m{^SIP/2\.0 200 } }
$served &&= ask($ok) =~ m{^SIP/2\.0 200 } && !is_closed($ok);
ok($open_late && is_closed($slow) && $dt > 1.5 && $dt < 4 && $served,
   sprintf('slow headers: closed after message_timeout (2 s; %.1f s), though octets kept coming; ', $dt)
   . 'a message completed within it is served, its connection kept beyond the 2 s');
close $ok;
is(metric($mport, 'sipchain_connections_closed_total', 'transport="tcp",reason="message_timeout"'), 1,
   'message timeouts are counted');

# --- TLS: half-handshaken connections ---------------------------------
my @half;
my $t_fill = time;
for my $host (1 .. 10) { push @half, grep { defined } map { tcp_from("127.0.2.$host", $sport) } 1 .. 20 }
@half == 200 or BAIL_OUT('ten hosts could not open 200 TLS connections: ' . scalar @half);
$t0 = time;
my $tls = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$sport", LocalAddr => '127.0.0.3',
                               SSL_verify_mode => SSL_VERIFY_NONE, Timeout => 5);
ok($tls, 'another host completes a TLS handshake meanwhile') or diag($SSL_ERROR);
my $some = count_open(@half);
my $all = 0;
while (time - $t0 < 5) { last if ($all = count_open(@half) == 0); sleep 0.2 }
ok($all && time - $t_fill > 1.5,
   "all closed after tls_handshake_timeout (2 s; $some still open at first); idle_timeout is 300 s");
like(ask($tls, 'TLS'), qr{^SIP/2\.0 200 },
     'the completed handshake, silent since, outlived the handshake timeout and is answered');
ok(metric($mport, 'sipchain_connections_closed_total', 'transport="tls",reason="tls_handshake_timeout"') >= 150,
   'handshake timeouts are counted');
close $_ for grep { defined } @half;
close $tls if $tls;
stop_server($pid) == 0 or die 'the server did not stop cleanly';

# --- every connection proven: the busiest source gives way -------------
my ($p2, $m2) = (free_port(), free_port());
($pid) = server(port => $p2, yaml => <<"Y");
server:
  listen: [ "tcp:127.0.0.1:$p2" ]
  log: { level: info }
  limits: { max_connections: 10, max_connections_per_source: 0 }
  metrics: { listen: "127.0.0.1:$m2" }
modules_path: $mods
chain:
  - module: options
Y
# each carries a request before the next opens (a silent one would be
# the first to go once 9 are open)
my (@busy, @other, $answered);
for my $k (1 .. 10) {
    my $s = tcp_from($k <= 8 ? '127.0.0.2' : '127.0.0.4', $p2);
    $answered++ if ask($s) =~ m{^SIP/2\.0 200 };
    push @{ $k <= 8 ? \@busy : \@other }, $s;
}
$answered == 10 or BAIL_OUT("ten proven connections: only $answered answered");
$new = tcp_from('127.0.0.3', $p2);
like(ask($new), qr{^SIP/2\.0 200 }, 'at the limit a third host is still admitted');
ok(closed_within($busy[0], 1) && count_open(@busy) == 7 && count_open(@other) == 2,
   'the busiest host lost its oldest connection, the other host none');
my $more = tcp_from('127.0.0.2', $p2);
ok(closed_within($more, 1) && count_open(@busy) == 7,
   'the busiest host opening yet another is refused (it already holds the most), keeping the rest');
is(metric($m2, 'sipchain_connections_refused_total', 'transport="tcp",reason="max_connections"'), 1, 'the refusal is counted');
is(metric($m2, 'sipchain_connections_closed_total', 'transport="tcp",reason="evicted_busiest_source"'), 1, 'the eviction too');
close $_ for grep { defined } @busy, @other, $new, $more;
stop_server($pid) == 0 or die 'the server did not stop cleanly';

# --- out of descriptors ----------------------------------------------
# the server's open file limit (100, set from outside with prlimit) is
# far below max_connections: silent connections of four hosts run it
# out; the oldest make room for a newcomer.  Then proven connections run
# it out: nothing can be closed, and the server must not spin on the
# connection it cannot accept (it pauses accepting), nor flood its log.
SKIP: {
    my ($prlimit) = grep { -x } map { "$_/prlimit" } split /:/, $ENV{PATH};
    skip 'no prlimit', 3 unless $prlimit;
    my ($p4, $m4) = (free_port(), free_port());
    my $log4;
    ($pid, undef, $log4) = server(port => $p4, yaml => <<"Y");
server:
  listen: [ "tcp:127.0.0.1:$p4" ]
  log: { level: info }
  metrics: { listen: "127.0.0.1:$m4" }
modules_path: $mods
chain:
  - module: options
Y
    system($prlimit, "--pid=$pid", '--nofile=100:100') == 0 or BAIL_OUT('prlimit failed');
    my @silent;
    for my $host (1 .. 4) { push @silent, grep { defined } map { tcp_from("127.0.3.$host", $p4) } 1 .. 40 }
    sleep 0.5;
    my $fresh = tcp_from('127.0.0.3', $p4);
    my $in = ask($fresh) =~ m{^SIP/2\.0 200 } && is_closed($silent[0]) && !is_closed($silent[-1]);
    close $_ for grep { defined } @silent;      # descriptors back (for the metrics page too)
    sleep 0.5;
    ok($in && metric($m4, 'sipchain_connections_closed_total', 'transport="tcp",reason="evicted_fd_limit"') > 0,
       'out of descriptors: the oldest silent connections make room, a newcomer is answered');
    my (@busy4, $waiting);
    HOSTS: for my $host (1 .. 4) {
        for (1 .. 40) {
            my $s = tcp_from("127.0.4.$host", $p4) or last HOSTS;
            if (ask($s) !~ m{^SIP/2\.0 200 }) { $waiting = $s; last HOSTS }   # not accepted: out of descriptors
            push @busy4, $s;
        }
    }
    my $cpu = sub { my @f = split ' ', (do { local (@ARGV, $/) = "/proc/$pid/stat"; <> } =~ s/.*\) //sr); ($f[11] + $f[12]) };
    my $lines = sub { my $t = do { local (@ARGV, $/) = $log4; <> } // ''; scalar(() = $t =~ /\n/g) };
    my ($c0, $l0) = ($cpu->(), $lines->());
    sleep 2;
    my ($c1, $l1) = ($cpu->(), $lines->());
    my $hz = `getconf CLK_TCK` || 100;
    ok($waiting && @busy4 > 50 && @busy4 < 100 && ($c1 - $c0) / $hz < 0.5,
       sprintf('every descriptor held by a proven connection (%d): the server does not spin (%.2f s CPU in 2 s)', scalar @busy4, ($c1 - $c0) / $hz));
    ok($l1 - $l0 <= 4, 'and logs a line a second at most (' . ($l1 - $l0) . ' in 2 s)');
    close $_ for grep { defined } @busy4, $fresh, $waiting;
    stop_server($pid) == 0 or die 'the server did not stop cleanly';
}

# --- 5000 idle connections of one host, default limits -----------------
chomp(my $fds = `sh -c 'ulimit -n'`);
SKIP: {
    skip "fd limit $fds is too low for 5000 connections", 2 if $fds ne 'unlimited' && $fds < 5500;
    my $p3 = free_port();
    ($pid) = server(port => $p3, yaml => <<"Y");
server:
  listen: [ "tcp:127.0.0.1:$p3" ]
  log: { level: info }
modules_path: $mods
chain:
  - module: options
Y
    my @many;
    $t0 = time;
    while (@many < 5000 && time - $t0 < 60) { my $s = tcp_from('127.0.0.2', $p3) or last; push @many, $s }
    @many == 5000 or BAIL_OUT(sprintf('one host opened only %d connections (%.1f s)', scalar @many, time - $t0));
    note(sprintf('one host opened 5000 connections (%.1f s)', time - $t0));
    eventually(sub { count_open(@many) == 256 }, 5);
    my $open = count_open(@many);
    is($open, 256, 'the default max_connections_per_source (256) of them stay open');
    like(ask(tcp_from('127.0.0.3', $p3)), qr{^SIP/2\.0 200 }, 'another host connects and is answered');
    close $_ for @many;
    stop_server($pid) == 0 or die 'the server did not stop cleanly';
}

done_testing();
