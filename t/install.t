# make install into a DESTDIR and the installed tree at work: every file
# in its place (server, modules, header, pkg-config, man page, systemd
# unit, module skeleton, configuration never overwritten), the staged
# server run from there with the installed configuration, telling a
# service manager READY / RELOADING / STOPPING over $NOTIFY_SOCKET as
# systemd's Type=notify expects; and the module SDK: a module made by
# sipchain-module, built out of tree with the one pkg-config line against
# the installed header, loaded and passing its own test.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use SipTest;

my $build = $ENV{SC_BUILD} // 'objs';
my $dir = tmpdir();
my $stage = "$dir/stage";
my %mk = do { open my $fh, '<', 'Makefile' or die "Makefile: $! (run ./configure)"; map { /^(PREFIX|SYSCONFDIR|MODULES_PATH)\s*=\s*(\S+)/ ? ($1, $2) : () } <$fh> };
my ($prefix, $etc, $mp) = map { "$stage$_" } @mk{qw(PREFIX SYSCONFDIR MODULES_PATH)};
sub install { system("make -s install B=$build DESTDIR=$stage >$dir/install.out 2>&1") >> 8 }
sub slurp { local (@ARGV, $/) = @_; return scalar(<>) // '' }

# 1. the layout
is(install(), 0, 'make install DESTDIR=...') or diag(slurp("$dir/install.out"));
ok(-x "$prefix/sbin/sipchain", 'sbin/sipchain');
ok(-x "$prefix/bin/sipchainctl", 'bin/sipchainctl (the management client)');
like(`$prefix/bin/sipchainctl --help 2>&1`, qr/^usage: sipchainctl .*\n.*reg list/s, 'and it runs');
my @mods = map { s{.*/}{}r } glob("$build/modules/*.so");
is(scalar(grep { -f "$mp/$_" } @mods), scalar(@mods), "lib/sipchain/modules: @mods");
ok(-f "$prefix/include/sipchain/sipchain.h", 'include/sipchain/sipchain.h');
ok(-f "$prefix/share/man/man8/sipchain.8", 'share/man/man8/sipchain.8');
ok(-x "$prefix/bin/sipchain-module" && -f "$prefix/share/sipchain/skeleton/module.c", 'bin/sipchain-module and its skeleton');
my $conf = "$etc/sipchain/sipchain.yaml";
ok(-f $conf, 'etc/sipchain/sipchain.yaml');
unlike(slurp($conf), qr/^modules_path:/m, 'which leaves the modules path to the binary');
like(slurp($conf), qr{^    file: /var/log/sipchain/cdr\.jsonl$}m, 'whose CDRs go to the unit\'s LogsDirectory (its /tmp is private)');
my $lr = slurp("$stage/etc/logrotate.d/sipchain");
like($lr, qr{^/var/log/sipchain/\*\.log /var/log/sipchain/\*\.jsonl .*\{$}m, 'etc/logrotate.d/sipchain: the log and CDR files');
like($lr, qr{postrotate\n\s*systemctl kill --signal=USR1 --kill-whom=main sipchain\.service}, 'reopened with SIGUSR1 after rotation');
SKIP: {
    my ($lrb) = grep { -x } map { "$_/logrotate" } ('/usr/sbin', split /:/, $ENV{PATH});
    skip 'logrotate not installed', 1 unless $lrb;
    my $out = `$lrb -d -s $dir/lr.state $stage/etc/logrotate.d/sipchain 2>&1`;
    is($? >> 8, 0, 'logrotate -d reads it without error') or diag($out);
}
my @subst = map { "$prefix/$_" } qw(lib/pkgconfig/sipchain.pc share/man/man8/sipchain.8 lib/systemd/system/sipchain.service);
is(join(' ', grep { slurp($_) =~ /@[A-Z_]+@/ } @subst), '', 'no @PLACEHOLDER@ left in the .pc, man page and unit');
like(slurp("$prefix/share/man/man8/sipchain.8"), qr/^\.TH SIPCHAIN 8 .*\n(?:.*\n)*\.B SIGHUP/m, 'the man page: sections, signals');
open my $fh, '>>', $conf or die;
print $fh "# edited by the operator\n";
close $fh;
is(install(), 0, 'make install again');
like(slurp($conf), qr/edited by the operator/, 'an existing configuration is not overwritten');

# 2. the systemd unit
my $unit = slurp("$prefix/lib/systemd/system/sipchain.service");
my %u;
push @{ $u{$1} }, $2 while $unit =~ /^(\w+)=(.*)$/mg;
is($u{Type}[0], 'notify', 'Type=notify: sipchain reports readiness itself');
like($u{ExecStartPre}[0], qr{^\S+/sbin/sipchain -t -c \S+/sipchain/sipchain\.yaml$}, 'the configuration is checked before start');
like(join(' ; ', @{ $u{ExecReload} // [] }), qr{sipchain -t -c .* ; /bin/kill -HUP \$MAINPID$}, 'reload: check, then SIGHUP');
is("$u{DynamicUser}[0] [$u{AmbientCapabilities}[0]] [$u{CapabilityBoundingSet}[0]]", 'yes [] []',
   'an unprivileged user with no capability (5060/5061 are above 1024: no CAP_NET_BIND_SERVICE)');
is("$u{PrivateTmp}[0] $u{LogsDirectory}[0] $u{StateDirectory}[0]", 'yes sipchain sipchain',
   'a private /tmp; /var/log/sipchain and /var/lib/sipchain writable');
SKIP: {
    my ($sa) = grep { -x } map { "$_/systemd-analyze" } split /:/, $ENV{PATH};
    skip 'systemd-analyze not installed (scripts/install-deps.sh installs it)', 1 unless $sa;
    # verify wants the programs it names to exist: point them into the stage
    (my $staged = $unit) =~ s{=\S*/sbin/sipchain}{=$prefix/sbin/sipchain}g;
    $staged =~ s{-c \S+/sipchain/sipchain\.yaml}{-c $conf}g;
    my $f = write_file('sipchain.service', $staged);
    my $out = `$sa verify --man=no $f 2>&1`;
    is("$? $out", '0 ', 'systemd-analyze verify finds nothing wrong with the unit');
}

# 3. the staged server, its installed configuration (on a free port, its
#    staged modules), readiness over NOTIFY_SOCKET
my $port = free_port();
(my $yaml = slurp($conf)) =~ s/127\.0\.0\.1:5060/127.0.0.1:$port/g;
my $mport = free_port();
$yaml =~ s/127\.0\.0\.1:9090/127.0.0.1:$mport/g;
$yaml =~ s{/var/log/sipchain/cdr\.jsonl}{$dir/cdr.jsonl}g;
$yaml .= "modules_path: $mp\n";
my $sock = "$dir/notify";
my $nfy = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $sock) or die "notify socket: $!";
sub notices {      # every datagram until one matches re (or secs pass)
    my ($re, $secs) = @_;
    my ($all, $end) = ('', time + ($secs // 5));
    while ((my $l = $end - time) > 0) {
        my $rin = ''; vec($rin, fileno($nfy), 1) = 1;
        last unless select(my $r = $rin, undef, undef, $l);
        $nfy->recv(my $d, 4096);
        $all .= "$d\n--\n";
        last if $d =~ $re;
    }
    return $all;
}
my $yf = write_file('installed.yaml', $yaml);
like(`$prefix/sbin/sipchain -t -c $yf 2>&1`, qr/configuration \S+ is valid/, 'the installed sipchain accepts the installed configuration');
local $ENV{NOTIFY_SOCKET} = $sock;
my ($pid) = start_server(port => $port, yaml => $yaml, bin => "$prefix/sbin/sipchain");
like(notices(qr/READY=1/), qr/READY=1\nSTATUS=serving with /, 'READY=1 once listening');
my $c = udp_client();
my $r = send_recv($c, $port, "OPTIONS sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" . $c->sockport
                  . ";branch=z9hG4bK-i1\r\nMax-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
                  . "Call-ID: inst-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
like($r // '', qr/^SIP\/2\.0 200 /, 'it answers OPTIONS with the installed options module');
kill 'HUP', $pid;
my $n = notices(qr/READY=1/);
like($n, qr/^RELOADING=1\nMONOTONIC_USEC=\d+\n--\nREADY=1\nSTATUS=serving/m, 'SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1');
write_file("sipchain-$port.yaml", "server: [ broken\n");
kill 'HUP', $pid;
like(notices(qr/READY=1/), qr/READY=1\nSTATUS=reload failed, serving the previous configuration: .*sipchain-$port\.yaml:\d+:\d+/,
     'a failed reload: READY=1 again, and the STATUS says why');
kill 'TERM', $pid;
like(notices(qr/STOPPING=1/), qr/STOPPING=1/, 'SIGTERM: STOPPING=1');
is(stop_server($pid), 0, 'stopped cleanly');
delete $ENV{NOTIFY_SOCKET};

# 4. the SDK: a new module, built out of tree against the installed header
local $ENV{PKG_CONFIG_PATH} = "$prefix/lib/pkgconfig";
local $ENV{PKG_CONFIG_SYSROOT_DIR} = $stage;
my $cflags = `pkg-config --cflags sipchain` =~ s/\s+$//r;
is($cflags, "-I$prefix/include/sipchain", 'pkg-config --cflags sipchain: the installed header');
my $abi = `pkg-config --variable=abi sipchain`;
like($abi, qr/^\d+$/, 'and the module ABI');
my $work = "$dir/work";
mkdir $work;
like(`$prefix/bin/sipchain-module new hello $work/hello 2>&1`, qr/wrote .*hello\.c/, 'sipchain-module new hello');
is(system("cd $work/hello && cc -shared -fPIC \$(pkg-config --cflags sipchain) hello.c -o hello.so 2>$work/cc.out") >> 8, 0,
   'it builds with the one line: cc -shared -fPIC $(pkg-config --cflags sipchain) hello.c -o hello.so')
    or diag(slurp("$work/cc.out"));
unlink "$work/hello/hello.so";
my $test = `cd $work/hello && make -s test SIPCHAIN=$prefix/sbin/sipchain 2>&1`;
is($? >> 8, 0, 'its Makefile builds it and its test passes against the installed sipchain') or diag($test);
like($test, qr/^ok 2 - MESSAGE: 200 with the greeting$/m, 'the test talked SIP to it');
like(`$prefix/bin/sipchain-module new hello $work/hello 2>&1`, qr/exists; not overwriting/, 'an existing folder is never overwritten');
done_testing();
