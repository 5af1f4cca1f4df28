package contactsearch.streamserver;

import java.util.Set;

import de.bwaldvogel.mongo.bson.Document;

/**
 * What a change stream watches: one collection ({@code coll.watch()}), one database ({@code db.watch()}) or every
 * database but the internal ones ({@code client.watch()}), and which events end it with an invalidate.
 */
record StreamScope(String database, String collection) {

    private static final Set<String> INTERNAL_DATABASES = Set.of("admin", "config", "local");

    static StreamScope ofNamespace(String namespace) {
        String[] parts = ChangeStreamOplog.splitNamespace(namespace);
        return new StreamScope(parts[0], parts[1]);
    }

    static StreamScope ofDatabase(String database) {
        return new StreamScope(database, null);
    }

    static StreamScope ofCluster() {
        return new StreamScope(null, null);
    }

    /** Whether a data change in this namespace belongs in the stream. */
    boolean covers(String namespace) {
        String[] parts = ChangeStreamOplog.splitNamespace(namespace);
        if (database == null) {
            return !INTERNAL_DATABASES.contains(parts[0]);
        }
        return database.equals(parts[0]) && (collection == null || collection.equals(parts[1]));
    }

    /** Whether a command entry (drop, dropDatabase) is shown, and so whether it is followed by an invalidate. */
    boolean shows(Document commandEntry) {
        String commandDatabase = ChangeStreamOplog.splitNamespace((String) commandEntry.get("ns"))[0];
        Document command = (Document) commandEntry.get("o");
        if (command.containsKey("drop")) {
            return covers(commandDatabase + "." + command.get("drop"));
        }
        return command.containsKey("dropDatabase") && collection == null
            && (database == null ? !INTERNAL_DATABASES.contains(commandDatabase) : database.equals(commandDatabase));
    }

    /** MongoDB ends a collection's stream when the collection goes, a database's when the database goes. */
    boolean endsWith(Document commandEntry) {
        Document command = (Document) commandEntry.get("o");
        if (database == null || !shows(commandEntry)) {
            return false;
        }
        return collection != null ? command.containsKey("drop") : command.containsKey("dropDatabase");
    }
}
