package contactsearch.streamserver;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import de.bwaldvogel.mongo.bson.Document;

/**
 * Derives a change event's {@code updateDescription} from an update's operators and the document after it.
 *
 * <p>MongoDB diffs the document; we read the paths the operators name and take their new values from the post-image,
 * which gives the same answer for $set/$unset/$inc/$rename and friends on plain paths. A path with a positional part
 * ({@code a.$.b}, {@code a.$[]}) is reported as its top-level prefix with the prefix's whole new value.
 */
final class UpdateDescription {

    private UpdateDescription() {
    }

    static Document of(Document update, Document after) {
        Document updatedFields = new Document();
        Set<String> removedFields = new LinkedHashSet<>();
        for (Map.Entry<String, Object> operator : update.entrySet()) {
            if (!(operator.getValue() instanceof Document arguments)) {
                continue;
            }
            for (Map.Entry<String, Object> argument : arguments.entrySet()) {
                String path = concretePrefix(argument.getKey());
                switch (operator.getKey()) {
                    case "$unset" -> removedFields.add(path);
                    case "$rename" -> {
                        removedFields.add(path);
                        putNewValue(updatedFields, concretePrefix(String.valueOf(argument.getValue())), after);
                    }
                    default -> putNewValue(updatedFields, path, after);
                }
            }
        }
        removedFields.removeAll(updatedFields.keySet());
        return new Document("updatedFields", updatedFields)
            .append("removedFields", new ArrayList<>(removedFields))
            .append("truncatedArrays", List.of());
    }

    private static void putNewValue(Document updatedFields, String path, Document after) {
        if (after == null) {
            return;
        }
        Object value = valueAt(after, path);
        if (value != MISSING) {
            updatedFields.put(path, value instanceof Document document ? document.cloneDeeply() : value);
        }
    }

    /** The path up to (without) its first positional or filtered part. */
    private static String concretePrefix(String path) {
        String[] parts = path.split("\\.");
        StringBuilder prefix = new StringBuilder();
        for (String part : parts) {
            if (part.startsWith("$")) {
                break;
            }
            if (!prefix.isEmpty()) {
                prefix.append('.');
            }
            prefix.append(part);
        }
        return prefix.isEmpty() ? parts[0] : prefix.toString();
    }

    private static final Object MISSING = new Object();

    private static Object valueAt(Document document, String path) {
        Object current = document;
        for (String part : path.split("\\.")) {
            if (current instanceof Document nested && nested.containsKey(part)) {
                current = nested.get(part);
            } else if (current instanceof List<?> list && part.matches("\\d+") && Integer.parseInt(part) < list.size()) {
                current = list.get(Integer.parseInt(part));
            } else {
                return MISSING;
            }
        }
        return current;
    }
}
