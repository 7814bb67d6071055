// Knowledge bases (/api/knowledge): their documents, adding and removing one, search.

import { get, request } from "./http";
import type { Page } from "./types";

export interface KnowledgeBase {
  name: string;
  description: string;
  paths: string[];
  documents: number;
  chunks: number;
  chunk_size: number;
  chunk_overlap: number;
  top_k: number;
}

export interface KnowledgeDocument {
  id: string;
  knowledge: string;
  name: string;
  source: "file" | "api";
  content_type: string;
  size: number;
  chunk_count: number;
  created_at: string;
  updated_at: string;
}

export const CONTENT_TYPES = ["markdown", "text", "html"] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];

export interface DocumentCreate {
  name: string;
  content: string;
  content_type: ContentType;
}

export interface SearchHit {
  document_id: string;
  document: string;
  ordinal: number;
  content: string;
  score: number;
}

export interface SearchResponse {
  knowledge: string;
  query: string;
  results: SearchHit[];
}

const basePath = (name: string): string => `/api/knowledge/${encodeURIComponent(name)}`;

export const listKnowledge = (signal?: AbortSignal): Promise<{ items: KnowledgeBase[] }> =>
  get("/api/knowledge", {}, signal);

export const listDocuments = (
  name: string,
  offset: number,
  limit: number,
  signal?: AbortSignal,
): Promise<Page<KnowledgeDocument>> => get(`${basePath(name)}/documents`, { offset, limit }, signal);

/** Adds (or replaces, by name) a document; it is searchable when this resolves. */
export const addDocument = (name: string, document: DocumentCreate): Promise<KnowledgeDocument> =>
  request("POST", `${basePath(name)}/documents`, { body: document });

export const deleteDocument = (name: string, documentId: string): Promise<void> =>
  request("DELETE", `${basePath(name)}/documents/${encodeURIComponent(documentId)}`);

export const searchKnowledge = (name: string, query: string, topK?: number): Promise<SearchResponse> =>
  request("POST", `${basePath(name)}/search`, { body: topK ? { query, top_k: topK } : { query } });
