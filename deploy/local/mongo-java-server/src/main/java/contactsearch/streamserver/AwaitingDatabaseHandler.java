package contactsearch.streamserver;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.exception.MongoServerException;
import de.bwaldvogel.mongo.wire.MongoDatabaseHandler;
import de.bwaldvogel.mongo.wire.message.ClientRequest;
import de.bwaldvogel.mongo.wire.message.MessageHeader;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.group.ChannelGroup;
import io.netty.util.concurrent.ScheduledFuture;

/**
 * Answers a change stream's getMore as MongoDB does: when there is nothing new, the reply waits until an oplog entry
 * arrives or {@code maxAwaitTimeMS} (default one second) passes. The wait holds no thread: the event loop is told to
 * try again on the next oplog write or at the deadline, so other connections on the same loop are not held up.
 */
final class AwaitingDatabaseHandler extends MongoDatabaseHandler {

    private static final long DEFAULT_AWAIT_MS = 1000;

    private final StreamBackend backend;
    private final AtomicInteger replyIds = new AtomicInteger();

    AwaitingDatabaseHandler(StreamBackend backend, ChannelGroup channels) {
        super(backend, channels);
        this.backend = backend;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext context, ClientRequest request) {
        if (request instanceof MongoMessage message && isStreamGetMore(message.getDocument())) {
            // On a getMore, maxTimeMS carries the client's maxAwaitTimeMS (drivers rename it).
            Object await = message.getDocument().get("maxTimeMS");
            long awaitMs = await instanceof Number number ? Math.max(0, number.longValue()) : DEFAULT_AWAIT_MS;
            answer(context, message, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(awaitMs));
            return;
        }
        super.channelRead0(context, request);
    }

    private boolean isStreamGetMore(Document command) {
        return !command.isEmpty() && "getMore".equals(command.keySet().iterator().next())
            && backend.streamCursor(command) != null;
    }

    /** Runs the getMore; sends the reply if it has events, the cursor ended or time is up, else waits. */
    private void answer(ChannelHandlerContext context, MongoMessage message, long deadline) {
        if (!context.channel().isActive()) {
            return;
        }
        long seen = backend.oplog().latest();
        Document reply = run(message);
        long remaining = deadline - System.nanoTime();
        if (remaining <= 0 || !worthWaiting(reply)) {
            MessageHeader header = new MessageHeader(replyIds.incrementAndGet(), message.getHeader().getRequestID());
            context.channel().writeAndFlush(new MongoMessage(context.channel(), header, reply));
            return;
        }
        AtomicBoolean retried = new AtomicBoolean();
        Runnable[] onWrite = new Runnable[1];
        // Both callbacks run on this channel's event loop, which is the current thread: neither runs before
        // this method returns, so onWrite[0] is set by then.
        ScheduledFuture<?> timer = context.executor().schedule(() -> {
            if (retried.compareAndSet(false, true)) {
                backend.oplog().forget(onWrite[0]);
                answerLater(context, message, deadline);
            }
        }, remaining, TimeUnit.NANOSECONDS);
        onWrite[0] = () -> context.executor().execute(() -> {
            if (retried.compareAndSet(false, true)) {
                timer.cancel(false);
                answerLater(context, message, deadline);
            }
        });
        backend.oplog().wakeAfter(seen, onWrite[0]);
    }

    /**
     * {@link #answer} from a timer or a write's callback. Netty only logs what such a task throws; the client, which
     * waits for a reply on this connection without a socket timeout, would then wait forever. What {@link #run} does
     * not turn into an error reply (an {@link Error}) goes down the pipeline as from channelRead0, whose handler
     * closes the connection: the driver sees a network error and retries or resumes.
     */
    private void answerLater(ChannelHandlerContext context, MongoMessage message, long deadline) {
        try {
            answer(context, message, deadline);
        } catch (Throwable failure) {
            context.fireExceptionCaught(failure);
        }
    }

    private Document run(MongoMessage message) {
        try {
            return backend.handleMessage(message);
        } catch (MongoServerException e) {
            return errorReply(e);
        } catch (RuntimeException e) {
            return errorReply(new MongoServerException("Unknown error: " + e.getMessage(), e));
        }
    }

    private static boolean worthWaiting(Document reply) {
        if (!(reply.get("cursor") instanceof Document cursor)) {
            return false;
        }
        return cursor.get("nextBatch") instanceof java.util.List<?> batch && batch.isEmpty()
            && cursor.get("id") instanceof Number id && id.longValue() != 0;
    }

    private static Document errorReply(MongoServerException exception) {
        Document reply = new Document("$err", exception.getMessageWithoutErrorCode())
            .append("errmsg", exception.getMessageWithoutErrorCode());
        if (exception instanceof MongoServerError error) {
            reply.append("code", error.getCode());
            reply.putIfNotNull("codeName", error.getCodeName());
        }
        reply.append("ok", 0);
        return reply;
    }
}
