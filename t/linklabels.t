# Module metrics carry the link label: two guards (named east and west,
# on different methods) keep apart on the metrics page, each series
# labelled link="<name>", the registrar (unnamed) link="<position>"; a
# reload continues every series (the counters neither reset nor doubled,
# the bindings gauge exact, the blocks gauges back to 0 as the blocks
# end with their configuration); a reload that moves the unnamed
# registrar moves its gauges to its new position, the old position's
# leaving the page.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use HTTP::Tiny;
use SipTest;

my $mods = module_dir();
my $port = free_port();
my $mport = free_port();
sub yaml {
    my ($head) = @_;
    return <<Y;
server:
  listen: [ "udp:127.0.0.1:$port" ]
  metrics: { listen: "127.0.0.1:$mport" }
  log: { level: info }
modules_path: $mods
chain:
$head  - module: guard
    name: east
    methods: [ OPTIONS ]
    deny: [ 127.0.0.66/32 ]
    action: 503
  - module: guard
    name: west
    methods: [ MESSAGE ]
    deny: [ 127.0.0.66/32 ]
    action: 503
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: options
Y
}
my ($pid, undef, $log) = start_server(port => $port, yaml => yaml(''));
my $http = HTTP::Tiny->new(timeout => 5);
sub scrape {
    my %m;
    for (split /\n/, $http->get("http://127.0.0.1:$mport/metrics")->{content} // '') {
        $m{$1} = $2 if !/^#/ && /^(\S+(?:\{.*\})?) (\S+)$/;
    }
    return \%m;
}
my %sock;
sub from {
    my ($ip) = @_;
    return $sock{$ip} //= IO::Socket::INET->new(Proto => 'udp', LocalAddr => $ip, LocalPort => 0)
        // die "bind $ip: $!";
}
my $n = 0;
sub ask {
    my ($ip, $method, $user, $ua) = @_;
    my $domain = 'example.com';
    my $s = from($ip);
    my $me = $s->sockport;
    $n++;
    my $m = "$method sip:$domain SIP/2.0\r\nVia: SIP/2.0/UDP $ip:$me;branch=z9hG4bK-ll$n;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:$user\@$domain>\r\nFrom: <sip:$user\@$domain>;tag=f$n\r\n"
          . "Call-ID: ll-$n\r\nCSeq: 1 $method\r\n"
          . ($method eq 'REGISTER' ? "Contact: <sip:$user\@$ip:$me>\r\nExpires: 300\r\n" : '')
          . ($ua ? "User-Agent: $ua\r\n" : '')
          . "Content-Length: 0\r\n\r\n";
    return sip_status(send_recv($s, $port, $m, 3));
}
sub reload {
    my ($yaml) = @_;
    write_file("sipchain-$port.yaml", $yaml);
    my $before = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /reloaded/g;
    kill 'HUP', $pid;
    my $end = time + 10;
    while (time < $end) {
        my $now = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /reloaded/g;
        return 1 if $now > $before;
        sleep 0.05;
    }
    return 0;
}
my %want = (
    'sipchain_registrar_bindings{link="3"}' => 3, 'sipchain_registrar_aors{link="3"}' => 3,
    'sipchain_guard_refused_total{reason="deny",link="east"}' => 2,
    'sipchain_guard_refused_total{reason="deny",link="west"}' => 1,
    'sipchain_guard_refused_total{reason="user_agent",link="east"}' => 1,
    'sipchain_guard_refused_total{reason="user_agent",link="west"}' => 0,
    'sipchain_blocked_total{reason="user_agent",link="east"}' => 1,
    'sipchain_blocked_total{reason="user_agent",link="west"}' => 0,
);
sub series_like {
    my ($m, $want, $what) = @_;
    is_deeply({ map { $_ => $m->{$_} } keys %$want }, $want, $what);
}

is(ask('127.0.0.1', 'REGISTER', 'u1'), '200', 'u1 registers');
is(ask('127.0.0.1', 'REGISTER', 'u2'), '200', 'u2 too');
is(ask('127.0.0.1', 'REGISTER', 'u3'), '200', 'u3 too');
is(ask('127.0.0.66', 'OPTIONS', 'x'), '503', 'a denied OPTIONS: refused by east');
is(ask('127.0.0.66', 'OPTIONS', 'x'), '503', 'again');
is(ask('127.0.0.66', 'MESSAGE', 'x'), '503', 'a denied MESSAGE: refused by west');
is(ask('127.0.0.70', 'OPTIONS', 'x', 'friendly-scanner'), '503', 'a scanner\'s OPTIONS: blocked by east');
my $m = scrape();
series_like($m, \%want, 'one series per link: the registrars\' gauges and the guards\' counters apart');
ok(!exists $m->{sipchain_registrar_bindings} && !exists $m->{'sipchain_guard_refused_total{reason="deny"}'},
   'no series without a link');
is($m->{'sipchain_blocked_sources{link="east"}'}, 1, 'east: one source blocked now');
is($m->{'sipchain_blocked_sources{link="west"}'}, 0, 'west: none');

# a reload with the same chain: every series goes on where it was
ok(reload(yaml('')), 'SIGHUP: reloaded');
# the old generation goes once drained; the block table is kept (sc_kept):
# east's gauge says 1 throughout, never 0 nor 2
my ($end, $lo, $hi) = (time + 2, 1, 1);
while (time < $end) {
    my $v = scrape()->{'sipchain_blocked_sources{link="east"}'} // 0;
    ($lo, $hi) = ($v < $lo ? $v : $lo, $v > $hi ? $v : $hi);
    sleep 0.1;
}
$m = scrape();
series_like($m, \%want, 'after the reload: the same values (counters not reset, the gauge not doubled)');
is("$lo $hi", '1 1', 'east\'s block is kept across the reload: its gauge stays 1');
is($m->{'sipchain_blocked_sources{link="west"}'}, 0, 'west: 0');
is(ask('127.0.0.66', 'OPTIONS', 'x'), '503', 'one more OPTIONS refused by east');
is(ask('127.0.0.1', 'REGISTER', 'u4'), '200', 'u4 registers');
$m = scrape();
is($m->{'sipchain_guard_refused_total{reason="deny",link="east"}'}, 3, 'east\'s counter goes on: 3');
is($m->{'sipchain_guard_refused_total{reason="deny",link="west"}'}, 1, 'west\'s stays: 1');
is($m->{'sipchain_registrar_bindings{link="3"}'}, 4, 'the registrar\'s gauge follows its store: 4');

# a link inserted at the top: the registrar is link 4 now; the named
# guards keep their series
ok(reload(yaml("  - module: options\n    methods: [ INFO ]\n")), 'a reload with a link before the others');
$end = time + 5;
sleep 0.1 while exists scrape()->{'sipchain_registrar_bindings{link="3"}'} && time < $end;
$m = scrape();
is($m->{'sipchain_registrar_bindings{link="4"}'}, 4, 'the registrar\'s bindings under its new position');
ok(!exists $m->{'sipchain_registrar_bindings{link="3"}'}, 'and gone from its old one (no stale gauge to add up)');
is($m->{'sipchain_guard_refused_total{reason="deny",link="east"}'}, 3, 'east\'s counter: 3 still');
is(stop_server($pid), 0, 'clean stop');
done_testing();
