package contactsearch.streamserver;

import java.util.Locale;
import java.util.regex.Pattern;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;

/**
 * The resume tokens this server hands out: {@code {_data: "82" + 16 hex digits of the oplog timestamp + 2 of kind}}.
 * Clients treat them as opaque, as they must with MongoDB's; only this server reads them back.
 */
record ResumeToken(long timestamp, boolean invalidate) {

    static final int HISTORY_LOST = 286;
    static final String HISTORY_LOST_NAME = "ChangeStreamHistoryLost";

    private static final Pattern SHAPE = Pattern.compile("82[0-9A-F]{16}0[01]");

    Document toDocument() {
        return new Document("_data", String.format(Locale.ROOT, "82%016X%02X", timestamp, invalidate ? 1 : 0));
    }

    /** Reads a token given by a client; one this server cannot have issued is history it does not have. */
    static ResumeToken parse(Object token) {
        Object data = token instanceof Document document ? document.get("_data") : null;
        if (!(data instanceof String text) || !SHAPE.matcher(text.toUpperCase(Locale.ROOT)).matches()) {
            throw historyLost("the resume token was not issued by this server");
        }
        long timestamp = Long.parseUnsignedLong(text.substring(2, 18), 16);
        return new ResumeToken(timestamp, text.endsWith("1"));
    }

    static MongoServerError historyLost(String why) {
        return new MongoServerError(HISTORY_LOST, HISTORY_LOST_NAME,
            "cannot resume the change stream: " + why);
    }
}
