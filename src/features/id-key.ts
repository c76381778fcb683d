/** Case-insensitive key for the names and IDs DPS treats case-insensitively (registration IDs, hubs, CAs). */
export const idKey = (id: string) => id.toLowerCase();
