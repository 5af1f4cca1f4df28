package contactsearch.streamserver;

import java.net.InetSocketAddress;

import de.bwaldvogel.mongo.wire.MongoExceptionHandler;
import de.bwaldvogel.mongo.wire.MongoWireMessageEncoder;
import de.bwaldvogel.mongo.wire.MongoWireProtocolHandler;
import de.bwaldvogel.mongo.wire.MongoWireReplyEncoder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;

/**
 * The TCP side: mongo-java-server's wire codec with our {@link AwaitingDatabaseHandler} in place of its own
 * (MongoServer builds its pipeline inside bind(), so it cannot be given another handler).
 */
final class WireServer implements AutoCloseable {

    private final StreamBackend backend;
    private final EventLoopGroup acceptors = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final EventLoopGroup workers = new MultiThreadIoEventLoopGroup(NioIoHandler.newFactory());
    private final ChannelGroup clients = new DefaultChannelGroup("clients", GlobalEventExecutor.INSTANCE);
    private Channel listener;

    WireServer(StreamBackend backend) {
        this.backend = backend;
    }

    InetSocketAddress bind(String host, int port) {
        listener = new ServerBootstrap()
            .group(acceptors, workers)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 128)
            .childOption(ChannelOption.TCP_NODELAY, Boolean.TRUE)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel channel) {
                    channel.pipeline().addLast(
                        new MongoWireReplyEncoder(),
                        new MongoWireMessageEncoder(),
                        new MongoWireProtocolHandler(),
                        new AwaitingDatabaseHandler(backend, clients),
                        new MongoExceptionHandler());
                }
            })
            .bind(host, port)
            .syncUninterruptibly()
            .channel();
        return (InetSocketAddress) listener.localAddress();
    }

    /** Stops accepting, closes the clients, then the backend (which writes the H2 store to disk). */
    @Override
    public void close() {
        if (listener != null) {
            listener.close().syncUninterruptibly();
        }
        clients.close().syncUninterruptibly();
        acceptors.shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
        backend.close();
    }
}
