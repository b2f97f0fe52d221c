# Transport choice as drachtio-server makes it, seen by the real
# drachtio-srf (t/drachtio/app.js, mode uac): with only UDP configured a
# call to a URI naming TCP fails with drachtio-server's own words
# ("requested protocol/transport not available"), which applications
# match on; with only TCP configured a call to a URI naming no transport
# goes over TCP (a sipp UAS over TCP answers it, the app hangs up).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use SipTest;
use NodeApp;

my $node = (grep { -x } map { "$_/node" } split /:/, $ENV{PATH})[0];
plan skip_all => 'node not found: run scripts/install-deps.sh' unless $node;
plan skip_all => 'drachtio-srf not installed: run scripts/install-deps.sh'
    unless -d 't/drachtio/node_modules/drachtio-srf';
my $mods = module_dir();
my $dir = tmpdir();

sub app_start { my ($name, @args) = @_; return node_app($name, script => 'app.js', args => \@args, limit => 60) }
sub server {
    my ($listen, $ctl) = @_;
    return start_server(yaml => <<Y);
server:
  listen: [ $listen ]
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: drachtio
    listen: "127.0.0.1:$ctl"
    secret: cymru
Y
}

# --- only UDP: a URI naming TCP -----------------------------------------------
my ($port, $ctl) = (free_port(), free_port());
my ($pid) = server("\"udp:127.0.0.1:$port\"", $ctl);
my $app = app_start('notcp', 'uac', "127.0.0.1:$ctl", 'sip:bob@127.0.0.1:5999;transport=tcp');
ok(app_wait('notcp', qr/^UAC-FAILED/m, 10), 'only UDP: the call to a URI naming TCP fails')
    or diag(app_log('notcp'));
like(app_log('notcp'), qr/^UAC-FAILED requested protocol\/transport not available$/m,
     "with drachtio-server's error text");
app_stop($app);
stop_server($pid);

# --- only TCP: a URI naming no transport --------------------------------------
($port, $ctl) = (free_port(), free_port());
($pid) = server("\"tcp:127.0.0.1:$port\"", $ctl);
my $sp = free_port();
my $uas = sipp_start('uas', "-sn uas -t t1 -i 127.0.0.1 -p $sp -m 1");
sleep 0.5;
$app = app_start('tcponly', 'uac', "127.0.0.1:$ctl", "sip:bob\@127.0.0.1:$sp");
ok(app_wait('tcponly', qr/^UAC-BYE-DONE/m, 15), 'only TCP: the call to a URI naming no transport goes over TCP, is answered and hung up')
    or diag(app_log('tcponly'));
is(sipp_done($uas, 20), 0, 'the sipp UAS over TCP saw the call through');
app_stop($app);
stop_server($pid);

done_testing();
