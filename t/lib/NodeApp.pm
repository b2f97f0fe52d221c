# NodeApp: the drachtio tests' Node applications (t/drachtio/*.js, run
# with the pinned drachtio-srf), each a child process of the test with its
# output in TMP/app-NAME.log, bounded by timeout(1), stopped by pid (and at
# the latest when the test ends).
#
#   my $p = node_app('uas', script => 'app.js', ready => qr/^CONNECTED/m,
#                    args => [ 'uas', "127.0.0.1:$ctl" ]);
#   app_wait('uas', qr/^INVITE/m, 5);  app_log('uas');  app_stop($p);
package NodeApp;
use strict;
use warnings;
use Exporter 'import';
use Test::More ();
use Time::HiRes qw(time sleep);
use SipTest ();

our @EXPORT = qw(node_bin node_app app_log app_wait app_stop);

my %apps;

# node, or the test bails out (install-deps.sh installs it)
sub node_bin {
    my $node = (grep { -x } map { "$_/node" } split /:/, $ENV{PATH})[0];
    Test::More::BAIL_OUT('node not found: run scripts/install-deps.sh') unless $node;
    return $node;
}

sub app_log {
    my $f = SipTest::tmpdir() . "/app-$_[0].log";
    return '' unless -e $f;
    local (@ARGV, $/) = $f;
    return scalar(<>) // '';
}

# the app's log once it matches re (within secs), else undef
sub app_wait {
    my ($name, $re, $secs) = @_;
    my $end = time + ($secs // 5);
    while (time < $end) { my $t = app_log($name); return $t if $t =~ $re; sleep 0.05 }
    return undef;
}

# Starts t/drachtio/SCRIPT ARGS as app NAME; with `ready`, waits (up to
# ready_secs, default 15) for its log to match it.  `limit` bounds its
# life (timeout(1), default 90 s).
sub node_app {
    my ($name, %o) = @_;
    my $node = node_bin();
    my $out = SipTest::tmpdir() . "/app-$name.log";
    unlink $out;
    my $p = fork() // die "fork: $!";
    if ($p == 0) {
        open STDOUT, '>', $out or die;
        open STDERR, '>&', \*STDOUT or die;
        chdir 't/drachtio' or die;
        exec('timeout', $o{limit} // 90, $node, $o{script}, @{ $o{args} // [] }) or exit 127;
    }
    $apps{$p} = 1;
    if ($o{ready}) {
        app_wait($name, $o{ready}, $o{ready_secs} // 15)
            or Test::More::diag("app $name did not start: " . app_log($name));
    }
    return $p;
}

sub app_stop {
    my ($p) = @_;
    delete $apps{$p};
    kill 'TERM', $p;
    waitpid($p, 0);
}

END { local $?; kill 'TERM', keys %apps; waitpid($_, 0) for keys %apps }

1;
